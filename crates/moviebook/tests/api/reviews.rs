//! Reviews: one per user and movie, 201/200, validation, deletion, lists, scores.

use serde_json::{Value, json};

use crate::support::*;

async fn movie(app: &TestApp, title: &str) -> String {
    app.create_movie(title, 2000, &["drama"], &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `user_id`s of a movie's review list, in list order.
async fn reviewers(app: &TestApp, movie_id: &str) -> Vec<String> {
    app.all(&format!("/movies/{movie_id}/reviews"))
        .await
        .iter()
        .map(|r| r["user_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn new_review_is_201_with_the_review_shape_and_get_shows_it_at_once() {
    let app = TestApp::spawn().await;
    let movie_id = movie(&app, "Reviewed").await;
    let (user_id, token) = app.sign_up("  Ann Reviewer ").await;
    let review = app
        .review(&movie_id, &token, 8, Some("Great fun."))
        .await
        .expect(201);
    assert_eq!(review["movie_id"], json!(movie_id));
    assert_eq!(review["user_id"], json!(user_id));
    assert_eq!(review["user_name"], json!("Ann Reviewer"));
    assert_eq!(review["score"], json!(8));
    assert_eq!(review["comment"], json!("Great fun."));
    assert_timestamp(&review["created_at"]);
    assert_timestamp(&review["updated_at"]);
    let fetched = app
        .get(&format!("/movies/{movie_id}/reviews/{user_id}"))
        .await
        .expect(200);
    assert_eq!(
        fetched, review,
        "GET of the review right after it was written"
    );
}

#[tokio::test]
async fn review_without_comment_has_null_comment_everywhere() {
    let app = TestApp::spawn().await;
    let movie_id = movie(&app, "Quiet").await;
    let (user_id, token) = app.sign_up("Silent").await;
    let review = app.review(&movie_id, &token, 6, None).await.expect(201);
    assert_eq!(review["comment"], Value::Null, "POST answer");
    let single = app
        .get_ok(&format!("/movies/{movie_id}/reviews/{user_id}"))
        .await;
    assert_eq!(single["comment"], Value::Null, "GET of the review");
    eventually(
        "the review list, the movie page and the user page show a null comment",
        async || {
            let list = app.all(&format!("/movies/{movie_id}/reviews")).await;
            let page = app.get_ok(&format!("/movies/{movie_id}")).await;
            let user = app.get_ok(&format!("/users/{user_id}")).await;
            let null_in = |v: &Value| {
                v.as_array()
                    .is_some_and(|l| l.len() == 1 && l[0].get("comment") == Some(&Value::Null))
            };
            if null_in(&json!(list)) && null_in(&page["reviews"]) && null_in(&user["reviews"]) {
                Ok(())
            } else {
                Err(format!(
                    "list {list:?}; movie page {}; user page {}",
                    page["reviews"], user["reviews"]
                ))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn replacing_a_review_is_200_and_keeps_one_review_per_user() {
    let app = TestApp::spawn().await;
    let movie_id = movie(&app, "Twice").await;
    let (user_id, token) = app.sign_up("Changer").await;
    let first = app
        .review(&movie_id, &token, 10, Some("first"))
        .await
        .expect(201);
    let second = app
        .review(&movie_id, &token, 4, Some("second thoughts"))
        .await
        .expect(200);
    assert_eq!(second["score"], json!(4));
    assert_eq!(second["comment"], json!("second thoughts"));
    assert_eq!(second["user_id"], json!(user_id));
    assert_eq!(
        second["created_at"], first["created_at"],
        "replacing keeps created_at"
    );
    assert_timestamp(&second["updated_at"]);
    let fetched = app
        .get_ok(&format!("/movies/{movie_id}/reviews/{user_id}"))
        .await;
    assert_eq!(
        fetched, second,
        "GET right after the replace shows the new review"
    );

    let moviedoc = app.await_movie_score(&movie_id, &[4]).await;
    assert_eq!(moviedoc["review_count"], json!(1));
    eventually(
        "the review list has exactly the one replaced review",
        async || {
            let list = app.all(&format!("/movies/{movie_id}/reviews")).await;
            if list.len() == 1
                && list[0]["score"] == json!(4)
                && list[0]["comment"] == json!("second thoughts")
            {
                Ok(())
            } else {
                Err(format!("{list:?}"))
            }
        },
    )
    .await;
    // A third write answers 200 again.
    app.review(&movie_id, &token, 5, None).await.expect(200);
    app.await_movie_score(&movie_id, &[5]).await;
}

#[tokio::test]
async fn review_fields_are_validated_listing_every_failing_field() {
    let app = TestApp::spawn().await;
    let movie_id = movie(&app, "Strict").await;
    let (user_id, token) = app.sign_up("Tester").await;
    let path = format!("/movies/{movie_id}/reviews");
    for score in [
        json!(0),
        json!(11),
        json!(-3),
        json!(5.5),
        json!("7"),
        Value::Null,
    ] {
        app.post_json(&path, Some(&token), &json!({ "score": score }))
            .await
            .invalid_field("score");
    }
    app.post_json(&path, Some(&token), &json!({ "comment": "no score" }))
        .await
        .invalid_field("score");
    app.post_json(
        &path,
        Some(&token),
        &json!({ "score": 5, "comment": "c".repeat(5001) }),
    )
    .await
    .invalid_field("comment");
    app.post_json(&path, Some(&token), &json!({ "score": 5, "comment": 5 }))
        .await
        .invalid_field("comment");
    app.post_json(&path, Some(&token), &json!({ "score": 5, "stars": 3 }))
        .await
        .invalid_field("stars");
    let mut fields = app
        .post_json(
            &path,
            Some(&token),
            &json!({ "score": 0, "comment": "c".repeat(5001) }),
        )
        .await
        .invalid_fields();
    fields.sort();
    assert_eq!(fields, ["comment", "score"]);

    // Nothing was stored by the refused requests; the limits themselves are accepted.
    app.get(&format!("{path}/{user_id}")).await.problem(404);
    let ok = app
        .review(&movie_id, &token, 1, Some(&"c".repeat(5000)))
        .await
        .expect(201);
    assert_eq!(ok["comment"].as_str().unwrap().chars().count(), 5000);
    app.review(&movie_id, &token, 10, Some(""))
        .await
        .expect(200);
}

#[tokio::test]
async fn review_of_an_unknown_or_deleted_movie_is_404() {
    let app = TestApp::spawn().await;
    let (_, token) = app.sign_up("Lost").await;
    app.review(&uuid::Uuid::now_v7().to_string(), &token, 5, None)
        .await
        .problem(404);
    app.review("not-a-uuid", &token, 5, None).await.problem(404);
    let movie_id = movie(&app, "Gone").await;
    app.delete(&format!("/movies/{movie_id}"), app.admin())
        .await
        .expect(204);
    app.review(&movie_id, &token, 5, None).await.problem(404);
}

#[tokio::test]
async fn unknown_review_is_404() {
    let app = TestApp::spawn().await;
    let movie_id = movie(&app, "Unreviewed").await;
    let (user_id, _) = app.sign_up("Nobody").await;
    app.get(&format!("/movies/{movie_id}/reviews/{user_id}"))
        .await
        .problem(404);
    app.get(&format!(
        "/movies/{movie_id}/reviews/{}",
        uuid::Uuid::now_v7()
    ))
    .await
    .problem(404);
    app.get(&format!("/movies/{movie_id}/reviews/not-a-uuid"))
        .await
        .problem(404);
    app.get(&format!(
        "/movies/{}/reviews/{user_id}",
        uuid::Uuid::now_v7()
    ))
    .await
    .problem(404);
    app.delete(
        &format!("/movies/{movie_id}/reviews/{user_id}"),
        app.admin(),
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn score_is_the_exact_mean_rounded_half_away_from_zero_to_2_decimals() {
    let app = TestApp::spawn().await;
    let a = movie(&app, "Six point one two five").await;
    let b = movie(&app, "Twenty nine thirds").await;
    let c = movie(&app, "Twenty thirds").await;
    let d = movie(&app, "Seven").await;
    let scores_a = [10, 9, 9, 8, 5, 4, 2, 2]; // 49 / 8 = 6.125
    let scores_b = [10, 10, 9]; // 29 / 3 = 9.666…
    let scores_c = [10, 5, 5]; // 20 / 3 = 6.666…
    let users = app.sign_up_tokens("Rater", 8).await;
    for (i, token) in users.iter().enumerate() {
        app.review(&a, token, scores_a[i], None).await.expect(201);
        if i < 3 {
            app.review(&b, token, scores_b[i], None).await.expect(201);
            app.review(&c, token, scores_c[i], None).await.expect(201);
        }
    }
    app.review(&d, &users[0], 7, None).await.expect(201);

    let got_a = app.await_movie_score(&a, &scores_a).await;
    assert_eq!(
        got_a["score"].as_f64(),
        Some(6.13),
        "6.125 rounds half away from zero to 6.13"
    );
    let got_b = app.await_movie_score(&b, &scores_b).await;
    assert_eq!(got_b["score"].as_f64(), Some(9.67), "29/3 rounds to 9.67");
    let got_c = app.await_movie_score(&c, &scores_c).await;
    assert_eq!(got_c["score"].as_f64(), Some(6.67), "20/3 rounds to 6.67");
    let got_d = app.await_movie_score(&d, &[7]).await;
    assert_eq!(got_d["score"].as_f64(), Some(7.0));
    assert_eq!(got_d["review_count"], json!(1));
}

#[tokio::test]
async fn replaced_review_changes_the_score_by_its_delta_and_keeps_the_count() {
    let app = TestApp::spawn().await;
    let movie_id = movie(&app, "Delta").await;
    let (_, t1) = app.sign_up("One").await;
    let (_, t2) = app.sign_up("Two").await;
    app.review(&movie_id, &t1, 10, None).await.expect(201);
    app.review(&movie_id, &t2, 9, None).await.expect(201);
    app.await_movie_score(&movie_id, &[10, 9]).await;
    app.review(&movie_id, &t2, 3, None).await.expect(200);
    let moviedoc = app.await_movie_score(&movie_id, &[10, 3]).await;
    assert_eq!(moviedoc["score"].as_f64(), Some(6.5));
    app.review(&movie_id, &t1, 1, None).await.expect(200);
    app.await_movie_score(&movie_id, &[1, 3]).await;
}

#[tokio::test]
async fn deleting_a_review_is_204_and_corrects_score_and_count() {
    let app = TestApp::spawn().await;
    let movie_id = movie(&app, "Shrinking").await;
    let (_, t1) = app.sign_up("One").await;
    let (_, t2) = app.sign_up("Two").await;
    let (u3, t3) = app.sign_up("Three").await;
    for (token, score) in [(&t1, 10), (&t2, 9), (&t3, 5)] {
        app.review(&movie_id, token, score, None).await.expect(201);
    }
    app.await_movie_score(&movie_id, &[10, 9, 5]).await;
    let resp = app
        .delete(&format!("/movies/{movie_id}/reviews/{u3}"), Some(&t3))
        .await;
    resp.expect(204);
    app.get(&format!("/movies/{movie_id}/reviews/{u3}"))
        .await
        .problem(404);
    app.delete(&format!("/movies/{movie_id}/reviews/{u3}"), Some(&t3))
        .await
        .problem(404);
    app.await_movie_score(&movie_id, &[10, 9]).await;
    eventually(
        "the deleted review leaves the movie's review list",
        async || {
            let list = reviewers(&app, &movie_id).await;
            if list.len() == 2 && !list.contains(&u3) {
                Ok(())
            } else {
                Err(format!("{list:?}"))
            }
        },
    )
    .await;
    // Writing again after a delete is a new review (201).
    app.review(&movie_id, &t3, 7, None).await.expect(201);
    app.await_movie_score(&movie_id, &[10, 9, 7]).await;
}

#[tokio::test]
async fn only_the_author_or_an_admin_can_delete_a_review() {
    let app = TestApp::spawn().await;
    let movie_id = movie(&app, "Guarded").await;
    let (author, author_token) = app.sign_up("Author").await;
    let (_, other_token) = app.sign_up("Other").await;
    app.review(&movie_id, &author_token, 8, None)
        .await
        .expect(201);
    let path = format!("/movies/{movie_id}/reviews/{author}");
    app.delete(&path, Some(&other_token)).await.problem(403);
    app.delete(&path, None).await.problem(401);
    app.get(&path).await.expect(200);
    app.delete(&path, app.admin()).await.expect(204);
    app.get(&path).await.problem(404);
    app.await_movie_score(&movie_id, &[]).await;
}

#[tokio::test]
async fn review_list_is_most_recently_written_first() {
    let app = TestApp::spawn().await;
    let movie_id = movie(&app, "Ordered").await;
    let (a, ta) = app.sign_up("A").await;
    let (b, tb) = app.sign_up("B").await;
    let (c, tc) = app.sign_up("C").await;
    app.review(&movie_id, &ta, 5, None).await.expect(201);
    app.review(&movie_id, &tb, 6, None).await.expect(201);
    app.review(&movie_id, &tc, 7, None).await.expect(201);
    let want = vec![c.clone(), b.clone(), a.clone()];
    eventually("reviews listed newest written first", async || {
        let list = reviewers(&app, &movie_id).await;
        if list == want {
            Ok(())
        } else {
            Err(format!("{list:?}, want {want:?}"))
        }
    })
    .await;
    app.review(&movie_id, &ta, 9, Some("changed my mind"))
        .await
        .expect(200);
    let want = vec![a.clone(), c.clone(), b.clone()];
    let list = eventually("a replaced review moves to the top", async || {
        let list = app.all(&format!("/movies/{movie_id}/reviews")).await;
        let order: Vec<String> = list
            .iter()
            .map(|r| r["user_id"].as_str().unwrap().to_owned())
            .collect();
        if order == want && list[0]["score"] == json!(9) {
            Ok(list)
        } else {
            Err(format!("{list:?}"))
        }
    })
    .await;
    for review in &list {
        for key in [
            "movie_id",
            "user_id",
            "user_name",
            "score",
            "comment",
            "created_at",
            "updated_at",
        ] {
            assert!(
                review.get(key).is_some(),
                "review list item without `{key}`: {review}"
            );
        }
        assert_eq!(review["movie_id"], json!(movie_id));
    }
    assert_eq!(list[0]["user_name"], json!("A"));
    assert_eq!(list[0]["comment"], json!("changed my mind"));
}

#[tokio::test]
async fn movie_page_shows_the_first_10_reviews_of_its_review_list() {
    let app = TestApp::spawn().await;
    let movie_id = movie(&app, "Popular").await;
    let mut scores = Vec::new();
    let mut order = Vec::new();
    for i in 0..12 {
        let (user_id, token) = app.sign_up(&format!("Fan {i}")).await;
        let score = (i % 10) + 1;
        app.review(&movie_id, &token, score, Some(&format!("comment {i}")))
            .await
            .expect(201);
        scores.push(score);
        order.push(user_id);
    }
    order.reverse();
    let moviedoc = app.await_movie_score(&movie_id, &scores).await;
    assert_eq!(moviedoc["review_count"], json!(12));
    eventually(
        "the movie page shows the 10 most recent reviews",
        async || {
            let moviedoc = app.get_ok(&format!("/movies/{movie_id}")).await;
            let shown = texts(array(&moviedoc["reviews"]), "user_id");
            let list = app.all(&format!("/movies/{movie_id}/reviews")).await;
            // The movie page's reviews are the first 10 of the review list.
            if shown == order[..10] && list.len() == 12 && moviedoc["reviews"] == json!(list[..10])
            {
                Ok(())
            } else {
                Err(format!("shown {shown:?}; list {list:?}"))
            }
        },
    )
    .await;
}
