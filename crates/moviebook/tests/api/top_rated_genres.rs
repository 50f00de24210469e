//! Top-rated and genres.

use serde_json::{Value, json};

use crate::movies::assert_summary;
use crate::support::*;

async fn top_rated(app: &TestApp, query: &str) -> Vec<Value> {
    let resp = app.get(&format!("/movies/top-rated{query}")).await;
    let items = resp.items();
    assert_no_duplicates(&ids(&items), &resp.request);
    items
}

#[tokio::test]
async fn top_rated_orders_by_exact_mean_then_review_count_then_id() {
    let app = TestApp::spawn().await;
    let tokens = app.sign_up_tokens("Voter", 4).await;
    let tag = tag();
    // Every ranked movie has at least 3 reviews, so `min_reviews=3` keeps other tests'
    // movies (on a shared server) from crowding ours out of the first 100.
    let plan: Vec<(&str, Vec<i64>)> = vec![
        ("G seven", vec![7, 7, 7]),
        ("C nine point five", vec![9, 10, 10, 9]),
        ("E eight thrice", vec![8, 8, 8]),
        ("A ten", vec![10, 10, 10]),
        ("F seven", vec![7, 7, 7]),
        ("D eight four times", vec![8, 8, 8, 8]),
        ("B nine point six seven", vec![10, 10, 9]),
        ("H ten twice", vec![10, 10]),
        ("I unreviewed", vec![]),
    ];
    let mut by_name = std::collections::HashMap::new();
    for (name, scores) in &plan {
        let movie = app
            .create_movie(&format!("{name} {tag}"), 2000, &["drama"], &[])
            .await;
        let id = movie["id"].as_str().unwrap().to_owned();
        for (token, score) in tokens.iter().zip(scores) {
            app.review(&id, token, *score, None).await.expect(201);
        }
        by_name.insert(*name, (id, scores.clone()));
    }
    let id = |name: &str| by_name[name].0.clone();
    // F and G tie on mean and count: the smaller id first.
    let (f, g) = (id("F seven"), id("G seven"));
    let (first_seven, second_seven) = if f < g { (f, g) } else { (g, f) };
    // 10 (3 reviews), 9.667, 9.5, 8 (4 reviews), 8 (3 reviews), 7, 7.
    let want = vec![
        id("A ten"),
        id("B nine point six seven"),
        id("C nine point five"),
        id("D eight four times"),
        id("E eight thrice"),
        first_seven,
        second_seven,
    ];
    let mut all_ours: Vec<String> = by_name.values().map(|(id, _)| id.clone()).collect();
    all_ours.sort();
    let items = eventually_in_order(
        "top-rated?min_reviews=3 orders our movies by mean, count, id",
        &all_ours,
        &want,
        async || top_rated(&app, "?limit=100&min_reviews=3").await,
    )
    .await;
    if app.owns_server() {
        assert_eq!(
            ids(&items),
            want,
            "top-rated?min_reviews=3 lists exactly the movies with 3+ reviews"
        );
        // With the default min_reviews (1) the 2-review 10 comes right after the 3-review 10,
        // and the unreviewed movie is still absent.
        let mut with_h = want.clone();
        with_h.insert(1, id("H ten twice"));
        eventually_equals(
            "top-rated with the default min_reviews adds the 2-review movie",
            &with_h,
            async || ids(&top_rated(&app, "?limit=100").await),
        )
        .await;
    }
    for (name, (movie_id, scores)) in &by_name {
        if scores.len() < 3 {
            assert!(
                !ids(&items).contains(movie_id),
                "{name} has fewer than 3 reviews"
            );
            continue;
        }
        let item = items.iter().find(|i| i["id"] == json!(movie_id)).unwrap();
        let movie = app.get_ok(&format!("/movies/{movie_id}")).await;
        assert_summary(item, &movie);
        assert!(
            same_score(&item["score"], &score_json(scores)),
            "{name}: {item}"
        );
        assert_eq!(item["review_count"], json!(scores.len()), "{name}: {item}");
    }
    let b = items
        .iter()
        .find(|i| i["id"] == json!(id("B nine point six seven")))
        .unwrap();
    assert_eq!(b["score"].as_f64(), Some(9.67));
}

#[tokio::test]
async fn top_rated_default_limit_is_10_and_limit_is_honoured() {
    let app = TestApp::spawn().await;
    let (_, token) = app.sign_up("Voter").await;
    let mut created = Vec::new();
    for i in 0..12 {
        let movie = app
            .create_movie(&format!("Ranked {i}"), 2000, &["drama"], &[])
            .await;
        let id = movie["id"].as_str().unwrap().to_owned();
        // Scores 10, 10, 9, 9, … so the order is by score, then id.
        app.review(&id, &token, 10 - (i / 2), None)
            .await
            .expect(201);
        created.push(id);
    }
    if app.owns_server() {
        let all = eventually("all 12 reviewed movies are top-rated", async || {
            let items = top_rated(&app, "?limit=100").await;
            if items.len() == 12 {
                Ok(items)
            } else {
                Err(format!("{} items", items.len()))
            }
        })
        .await;
        assert_eq!(ids(&all), created, "score descending, then id");
        let default = top_rated(&app, "").await;
        assert_eq!(ids(&default), created[..10], "the default limit is 10");
        assert_eq!(ids(&top_rated(&app, "?limit=3").await), created[..3]);
        assert_eq!(ids(&top_rated(&app, "?limit=1").await), created[..1]);
    } else {
        eventually_equals("top-rated has at least 10 movies", &10, async || {
            top_rated(&app, "").await.len()
        })
        .await;
        assert_eq!(top_rated(&app, "?limit=3").await.len(), 3);
    }
}

#[tokio::test]
async fn top_rated_min_reviews_keeps_movies_with_enough_reviews() {
    let app = TestApp::spawn().await;
    let tokens = app.sign_up_tokens("Voter", 5).await;
    let tag = tag();
    // All 10s, with 3, 4 and 5 reviews: same mean, so more reviews rank first.
    let mut by_count = Vec::new();
    for n in 3..=5 {
        let movie = app
            .create_movie(&format!("Count {n} {tag}"), 2000, &["drama"], &[])
            .await;
        let id = movie["id"].as_str().unwrap().to_owned();
        for token in &tokens[..n] {
            app.review(&id, token, 10, None).await.expect(201);
        }
        by_count.push(id);
    }
    let (three, four, five) = (
        by_count[0].clone(),
        by_count[1].clone(),
        by_count[2].clone(),
    );
    let mut cases = vec![
        (
            "?limit=100&min_reviews=3",
            3,
            vec![five.clone(), four.clone(), three.clone()],
        ),
        (
            "?limit=100&min_reviews=4",
            4,
            vec![five.clone(), four.clone()],
        ),
        ("?limit=100&min_reviews=5", 5, vec![five.clone()]),
        ("?limit=100&min_reviews=6", 6, vec![]),
    ];
    if app.owns_server() {
        cases.push((
            "?limit=100",
            1,
            vec![five.clone(), four.clone(), three.clone()],
        ));
    }
    for (query, min, want) in cases {
        eventually(&format!("top-rated{query} lists {want:?}"), async || {
            let items = top_rated(&app, query).await;
            if let Some(bad) = items
                .iter()
                .find(|i| i["review_count"].as_u64().unwrap_or(0) < min)
            {
                return Err(format!("an item with fewer than {min} reviews: {bad}"));
            }
            let ours = only(&ids(&items), &by_count);
            if ours == want {
                Ok(())
            } else {
                Err(format!("{ours:?}"))
            }
        })
        .await;
    }
}

#[tokio::test]
async fn top_rated_parameters_are_validated() {
    let app = TestApp::spawn().await;
    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=-1",
        "?limit=abc",
        "?limit=1.5",
    ] {
        app.get(&format!("/movies/top-rated{query}"))
            .await
            .invalid_field("limit");
    }
    for query in ["?min_reviews=0", "?min_reviews=-2", "?min_reviews=many"] {
        app.get(&format!("/movies/top-rated{query}"))
            .await
            .invalid_field("min_reviews");
    }
    let body = app
        .get("/movies/top-rated?limit=100&min_reviews=1")
        .await
        .expect(200);
    assert!(body["items"].is_array(), "{body}");
    let body = app
        .get("/movies/top-rated?limit=1&min_reviews=1000000")
        .await
        .expect(200);
    assert_eq!(body["items"], json!([]));
}

#[tokio::test]
async fn top_rated_shows_each_movie_once_as_scores_change() {
    let app = TestApp::spawn().await;
    let tokens = app.sign_up_tokens("Voter", 3).await;
    let tag = tag();
    let a = app
        .create_movie(&format!("Swing A {tag}"), 2000, &["drama"], &[])
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app
        .create_movie(&format!("Swing B {tag}"), 2000, &["drama"], &[])
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ours = [a.clone(), b.clone()];
    for token in &tokens {
        app.review(&b, token, 6, None).await.expect(201);
    }
    app.review(&a, &tokens[1], 5, None).await.expect(201);
    app.review(&a, &tokens[2], 5, None).await.expect(201);
    // A's third review swings: its mean goes above and below B's 6 again and again.
    let swings = [9, 2, 10, 1, 8, 3, 10];
    for (round, score) in swings.into_iter().enumerate() {
        let status = app.review(&a, &tokens[0], score, None).await.status;
        assert_eq!(status, if round == 0 { 201 } else { 200 });
        // Every observation is free of duplicates (top_rated asserts it).
        let items = top_rated(&app, "?limit=100&min_reviews=3").await;
        assert!(only(&ids(&items), &ours).len() <= 2);
    }
    let a_scores = [5, 5, 10]; // 6.67 > 6
    let want = vec![a.clone(), b.clone()];
    let items = eventually("top-rated settles on the final scores", async || {
        let items = top_rated(&app, "?limit=100&min_reviews=3").await;
        let found = only(&ids(&items), &ours);
        let a_item = items.iter().find(|i| i["id"] == json!(a));
        let a_ok = a_item.is_some_and(|i| {
            same_score(&i["score"], &score_json(&a_scores)) && i["review_count"] == json!(3)
        });
        if found == want && a_ok {
            Ok(items)
        } else {
            Err(format!("{found:?} {a_item:?}"))
        }
    })
    .await;
    if app.owns_server() {
        assert_eq!(ids(&items), want);
    }
}

#[tokio::test]
async fn genres_are_listed_by_name_lowercased_with_movie_counts() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let (alpha, mid, zeta) = (
        format!("alpha{tag}"),
        format!("mid{tag}"),
        format!("zeta{tag}"),
    );
    let upper = |s: &str| format!("  {}  ", s.to_uppercase());
    app.create_movie("G1", 2000, &[&upper(&zeta), &alpha], &[])
        .await;
    app.create_movie(
        "G2",
        2001,
        &[&alpha, &upper(&mid), &format!("{alpha} ")],
        &[],
    )
    .await;
    app.create_movie("G3", 2002, &[&zeta], &[]).await;
    let want = json!([
        { "name": alpha, "movie_count": 2 },
        { "name": mid, "movie_count": 1 },
        { "name": zeta, "movie_count": 2 },
    ]);
    let items = eventually(
        "GET /genres lists our genres by name with counts",
        async || {
            let items = app.get("/genres").await.items();
            let ours: Vec<Value> = items
                .iter()
                .filter(|g| g["name"].as_str().is_some_and(|n| n.ends_with(&tag)))
                .cloned()
                .collect();
            if json!(ours) == want {
                Ok(items)
            } else {
                Err(format!("{ours:?}"))
            }
        },
    )
    .await;
    let names: Vec<String> = items
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "GET /genres is sorted by name");
    assert_no_duplicates(&names, "GET /genres");
    if app.owns_server() {
        assert_eq!(
            json!(items),
            want,
            "GET /genres lists exactly the genres in use"
        );
    }
}

#[tokio::test]
async fn genre_movies_are_case_insensitive_and_newest_release_first() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let genre = format!("film noir {tag}");
    let mut created = Vec::new();
    for year in [1950, 2010, 1980] {
        created.push(
            app.create_movie(&format!("Noir {year}"), year, &[&genre, "drama"], &[])
                .await,
        );
    }
    app.create_movie("Not Noir", 2020, &["drama"], &[]).await;
    let want = vec![created[1].clone(), created[2].clone(), created[0].clone()];
    for spelled in [
        genre.clone(),
        genre.to_uppercase(),
        format!("Film Noir {}", tag.to_uppercase()),
    ] {
        let path = format!("/genres/{}/movies", enc(&spelled));
        let items = eventually(
            &format!("{path} lists the three noirs newest release first"),
            async || {
                let items = app.all(&path).await;
                if ids(&items) == ids(&want) {
                    Ok(items)
                } else {
                    Err(format!("{:?}", ids(&items)))
                }
            },
        )
        .await;
        for (item, movie) in items.iter().zip(&want) {
            assert_summary(item, movie);
        }
    }
}

#[tokio::test]
async fn unknown_genre_is_an_empty_page_not_404() {
    let app = TestApp::spawn().await;
    let body = app
        .get(&format!("/genres/{}/movies", tag()))
        .await
        .expect(200);
    assert_eq!(body, json!({ "items": [], "next_cursor": null }));
}
