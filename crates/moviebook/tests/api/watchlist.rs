//! Watch lists: adding (idempotent, keeping the place), removing, the owner's list page by
//! page with live scores, who may do what, the movie's `watchlist_count`, and the lists
//! following deleted movies and users.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// How soon a deletion must reach the watch lists: API.md's consistency bound.
const CONVERGES: Duration = Duration::from_secs(2);

fn list_path(user_id: &str) -> String {
    format!("/users/{user_id}/watchlist")
}

fn entry_path(user_id: &str, movie_id: &str) -> String {
    format!("/users/{user_id}/watchlist/{movie_id}")
}

impl TestApp {
    /// `PUT /users/{user}/watchlist/{movie}` with `token` (no body).
    async fn add_to_watchlist(&self, user_id: &str, movie_id: &str, token: Option<&str>) -> Resp {
        let path = format!("{API}{}", entry_path(user_id, movie_id));
        self.raw(Method::PUT, &path, token, None, None).await
    }

    /// `DELETE /users/{user}/watchlist/{movie}` with `token`.
    async fn remove_from_watchlist(
        &self,
        user_id: &str,
        movie_id: &str,
        token: Option<&str>,
    ) -> Resp {
        self.delete(&entry_path(user_id, movie_id), token).await
    }

    /// Every item of a user's list, walked page by page with `limit`, as `token` sees it;
    /// with the number of pages read.
    async fn walk_watchlist(
        &self,
        user_id: &str,
        token: Option<&str>,
        limit: usize,
    ) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for pages in 1..=1000 {
            let mut path = format!("{}?limit={limit}", list_path(user_id));
            if let Some(cursor) = &cursor {
                path = with_param(&path, &format!("cursor={}", enc(cursor)));
            }
            let page = self.get_auth(&path, token).await.expect(200);
            items.extend(array(&page["items"]).iter().cloned());
            match &page["next_cursor"] {
                Value::Null => return (items, pages),
                Value::String(next) => {
                    assert_ne!(cursor.as_ref(), Some(next), "the cursor did not advance");
                    cursor = Some(next.clone());
                }
                other => panic!("next_cursor is neither a string nor null: {other}"),
            }
        }
        panic!("the watch list of {user_id} has more than 1000 pages")
    }

    /// The ids on a user's list, in order, as its owner sees it.
    async fn watchlist_ids(&self, user: &User) -> Vec<String> {
        ids(&self
            .walk_watchlist(&user.id, Some(&user.token), 100)
            .await
            .0)
    }

    /// The `watchlist_count` of a movie's page.
    async fn watchlist_count(&self, movie_id: &str) -> Value {
        self.get_ok(&format!("/movies/{movie_id}")).await["watchlist_count"].clone()
    }
}

/// New movies titled `{title} 0`, `{title} 1`, …; their ids.
async fn movies(app: &TestApp, title: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let movie = app
            .create_movie(&format!("{title} {i}"), 2000 + i as i64, &["drama"], &[])
            .await;
        ids.push(movie["id"].as_str().expect("a movie id").to_owned());
    }
    ids
}

#[tokio::test]
async fn the_owner_sees_additions_at_once_newest_first_and_adding_again_changes_nothing() {
    let app = TestApp::spawn().await;
    let listed = movies(&app, "Listed", 3).await;
    let user = app.sign_up_user("Watcher").await;
    assert_eq!(app.watchlist_ids(&user).await, Vec::<String>::new());

    for movie in &listed {
        app.add_to_watchlist(&user.id, movie, Some(&user.token))
            .await
            .expect(204);
    }
    let newest_first: Vec<String> = listed.iter().rev().cloned().collect();
    assert_eq!(app.watchlist_ids(&user).await, newest_first);

    // The oldest again: still one entry, still last.
    app.add_to_watchlist(&user.id, &listed[0], Some(&user.token))
        .await
        .expect(204);
    assert_eq!(app.watchlist_ids(&user).await, newest_first);

    let (items, _) = app.walk_watchlist(&user.id, Some(&user.token), 100).await;
    assert_eq!(
        items[2],
        json!({
            "id": listed[0],
            "title": "Listed 0",
            "release_year": 2000,
            "genres": ["drama"],
            "score": null,
            "review_count": 0,
            "poster": null,
            "thumbnail_url": null,
        }),
        "a watch list item is the movie's summary"
    );
}

#[tokio::test]
async fn removing_takes_the_movie_off_at_once_and_removing_what_is_not_there_is_204() {
    let app = TestApp::spawn().await;
    let listed = movies(&app, "Removed", 3).await;
    let user = app.sign_up_user("Remover").await;
    for movie in &listed {
        app.add_to_watchlist(&user.id, movie, Some(&user.token))
            .await
            .expect(204);
    }
    app.remove_from_watchlist(&user.id, &listed[1], Some(&user.token))
        .await
        .expect(204);
    assert_eq!(
        app.watchlist_ids(&user).await,
        vec![listed[2].clone(), listed[0].clone()]
    );
    // Removed already, never listed, no such movie: all the same.
    let unknown = "01930000-0000-7000-8000-00000000abcd";
    for movie in [&listed[1], &listed[1], unknown] {
        app.remove_from_watchlist(&user.id, movie, Some(&user.token))
            .await
            .expect(204);
    }
    assert_eq!(app.watchlist_count(&listed[1]).await, json!(0));

    // Added again after a removal: a new addition, the newest.
    app.remove_from_watchlist(&user.id, &listed[0], Some(&user.token))
        .await
        .expect(204);
    assert_eq!(app.watchlist_ids(&user).await, vec![listed[2].clone()]);
    app.add_to_watchlist(&user.id, &listed[0], Some(&user.token))
        .await
        .expect(204);
    assert_eq!(
        app.watchlist_ids(&user).await,
        vec![listed[0].clone(), listed[2].clone()]
    );
}

#[tokio::test]
async fn walking_every_page_returns_each_movie_once_in_order() {
    let app = TestApp::spawn().await;
    let listed = movies(&app, "Paged", 7).await;
    let user = app.sign_up_user("Pager").await;
    for movie in &listed {
        app.add_to_watchlist(&user.id, movie, Some(&user.token))
            .await
            .expect(204);
    }
    let newest_first: Vec<String> = listed.iter().rev().cloned().collect();
    for (limit, pages) in [(3, 3), (7, 1), (1, 7)] {
        let (items, read) = app.walk_watchlist(&user.id, Some(&user.token), limit).await;
        let walked = ids(&items);
        assert_no_duplicates(&walked, "the walked watch list");
        assert_eq!(walked, newest_first, "limit {limit}");
        assert_eq!(read, pages, "pages read with limit {limit}");
    }
    let (first, _) = app.walk_watchlist(&user.id, Some(&user.token), 100).await;
    assert_eq!(first.len(), 7);
    let default_page = app
        .get_auth(&list_path(&user.id), Some(&user.token))
        .await
        .expect(200);
    assert_eq!(array(&default_page["items"]).len(), 7);
    assert_eq!(default_page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn page_parameters_out_of_range_or_malformed_are_422() {
    let app = TestApp::spawn().await;
    let user = app.sign_up_user("Strict Pager").await;
    let path = list_path(&user.id);
    for limit in ["0", "101", "-1", "x"] {
        app.get_auth(&format!("{path}?limit={limit}"), Some(&user.token))
            .await
            .invalid_field("limit");
    }
    app.get_auth(
        &format!("{path}?cursor=%21%21not-a-cursor"),
        Some(&user.token),
    )
    .await
    .invalid_field("cursor");
    let both = app
        .get_auth(&format!("{path}?limit=0&cursor=%21%21"), Some(&user.token))
        .await
        .invalid_fields();
    assert!(
        both.contains(&"limit".to_owned()) && both.contains(&"cursor".to_owned()),
        "every failing parameter is listed: {both:?}"
    );
}

#[tokio::test]
async fn listed_movies_show_their_current_scores() {
    let app = TestApp::spawn().await;
    let [movie] = <[String; 1]>::try_from(movies(&app, "Scored", 1).await).unwrap();
    let user = app.sign_up_user("Scorer").await;
    app.add_to_watchlist(&user.id, &movie, Some(&user.token))
        .await
        .expect(204);
    let (_, critic) = app.sign_up("Critic").await;
    app.review(&movie, &critic, 7, None).await.expect(201);
    app.review(&movie, &user.token, 8, None).await.expect(201);
    eventually(
        "the listed movie shows its two reviews' score",
        async || {
            let (items, _) = app.walk_watchlist(&user.id, Some(&user.token), 100).await;
            let item = items.first().cloned().unwrap_or_default();
            if item["review_count"] == json!(2) && same_score(&item["score"], &json!(7.5)) {
                Ok(())
            } else {
                Err(format!("{items:?}"))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn only_the_owner_changes_a_list_and_only_the_owner_or_admin_reads_it() {
    let app = TestApp::spawn().await;
    let [movie] = <[String; 1]>::try_from(movies(&app, "Guarded", 1).await).unwrap();
    let owner = app.sign_up_user("Owner").await;
    let other = app.sign_up_user("Other").await;
    app.add_to_watchlist(&owner.id, &movie, Some(&owner.token))
        .await
        .expect(204);

    // Without a token, or with a token that is none.
    for token in [None, Some("not-a-token")] {
        app.get_auth(&list_path(&owner.id), token)
            .await
            .problem(401);
        app.add_to_watchlist(&owner.id, &movie, token)
            .await
            .problem(401);
        app.remove_from_watchlist(&owner.id, &movie, token)
            .await
            .problem(401);
    }
    // Another user: neither reads nor changes it.
    app.get_auth(&list_path(&owner.id), Some(&other.token))
        .await
        .problem(403);
    app.add_to_watchlist(&owner.id, &movie, Some(&other.token))
        .await
        .problem(403);
    app.remove_from_watchlist(&owner.id, &movie, Some(&other.token))
        .await
        .problem(403);
    // The admin reads it, but has no list to change.
    let admin = app.admin();
    let seen = app.get_auth(&list_path(&owner.id), admin).await.expect(200);
    assert_eq!(ids(array(&seen["items"])), vec![movie.clone()]);
    app.add_to_watchlist(&owner.id, &movie, admin)
        .await
        .problem(403);
    app.remove_from_watchlist(&owner.id, &movie, admin)
        .await
        .problem(403);

    assert_eq!(app.watchlist_ids(&owner).await, vec![movie.clone()]);
    assert_eq!(app.watchlist_ids(&other).await, Vec::<String>::new());
    assert_eq!(app.watchlist_count(&movie).await, json!(1));
}

#[tokio::test]
async fn unknown_or_malformed_ids_are_404() {
    let app = TestApp::spawn().await;
    let user = app.sign_up_user("Seeker").await;
    let unknown = "01930000-0000-7000-8000-00000000dcba";
    app.add_to_watchlist(&user.id, unknown, Some(&user.token))
        .await
        .problem(404);
    app.add_to_watchlist(&user.id, "not-an-id", Some(&user.token))
        .await
        .problem(404);
    app.remove_from_watchlist(&user.id, "not-an-id", Some(&user.token))
        .await
        .problem(404);
    assert_eq!(app.watchlist_ids(&user).await, Vec::<String>::new());
    // The admin asking for no user's list.
    for id in [unknown, "not-an-id"] {
        app.get_auth(&list_path(id), app.admin()).await.problem(404);
    }
}

#[tokio::test]
async fn the_movie_counts_the_lists_it_is_on() {
    let app = TestApp::spawn().await;
    let [movie] = <[String; 1]>::try_from(movies(&app, "Counted", 1).await).unwrap();
    assert_eq!(app.watchlist_count(&movie).await, json!(0), "a new movie");
    let users = [
        app.sign_up_user("Counter A").await,
        app.sign_up_user("Counter B").await,
    ];
    for user in &users {
        app.add_to_watchlist(&user.id, &movie, Some(&user.token))
            .await
            .expect(204);
    }
    // Adding again counts nothing more.
    app.add_to_watchlist(&users[0].id, &movie, Some(&users[0].token))
        .await
        .expect(204);
    assert_eq!(app.watchlist_count(&movie).await, json!(2));
    app.remove_from_watchlist(&users[1].id, &movie, Some(&users[1].token))
        .await
        .expect(204);
    app.remove_from_watchlist(&users[1].id, &movie, Some(&users[1].token))
        .await
        .expect(204);
    assert_eq!(app.watchlist_count(&movie).await, json!(1));
}

#[tokio::test]
async fn a_deleted_movie_leaves_every_list() {
    let app = TestApp::spawn().await;
    let listed = movies(&app, "Doomed", 2).await;
    let users = [
        app.sign_up_user("Doomed A").await,
        app.sign_up_user("Doomed B").await,
    ];
    for user in &users {
        for movie in &listed {
            app.add_to_watchlist(&user.id, movie, Some(&user.token))
                .await
                .expect(204);
        }
    }
    app.delete(&format!("/movies/{}", listed[0]), app.admin())
        .await
        .expect(204);
    for user in &users {
        eventually_within(
            CONVERGES,
            "the deleted movie leaves the watch list",
            async || {
                let on_list = app.watchlist_ids(user).await;
                if on_list == vec![listed[1].clone()] {
                    Ok(())
                } else {
                    Err(format!("{on_list:?}"))
                }
            },
        )
        .await;
    }
    // Adding it now finds no movie.
    app.add_to_watchlist(&users[0].id, &listed[0], Some(&users[0].token))
        .await
        .problem(404);
    assert_eq!(app.watchlist_count(&listed[1]).await, json!(2));
}

#[tokio::test]
async fn a_deleted_users_list_is_gone_and_the_counts_forget_it() {
    let app = TestApp::spawn().await;
    let listed = movies(&app, "Forgotten", 2).await;
    let stays = app.sign_up_user("Stays").await;
    let leaves = app.sign_up_user("Leaves").await;
    for movie in &listed {
        app.add_to_watchlist(&leaves.id, movie, Some(&leaves.token))
            .await
            .expect(204);
    }
    app.add_to_watchlist(&stays.id, &listed[0], Some(&stays.token))
        .await
        .expect(204);
    assert_eq!(app.watchlist_count(&listed[0]).await, json!(2));

    app.delete(&format!("/users/{}", leaves.id), Some(&leaves.token))
        .await
        .expect(204);
    // The deleted user's token stops working at once, and the list has no owner.
    app.get_auth(&list_path(&leaves.id), Some(&leaves.token))
        .await
        .problem(401);
    app.add_to_watchlist(&leaves.id, &listed[1], Some(&leaves.token))
        .await
        .problem(401);
    app.get_auth(&list_path(&leaves.id), app.admin())
        .await
        .problem(404);
    // Movie pages are cached, and the count moves by the user's deletion, not by a write to
    // the movie: the page may lag the count by the cache's bound on top of the bus.
    for (movie, count) in [(&listed[0], 1), (&listed[1], 0)] {
        eventually_equals(
            "the deleted user's entries leave the movie's count",
            &json!(count),
            async || app.watchlist_count(movie).await,
        )
        .await;
    }
    assert_eq!(app.watchlist_ids(&stays).await, vec![listed[0].clone()]);
}

#[tokio::test]
async fn the_openapi_document_describes_the_watch_list_and_the_movies_count() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let movie = &doc["components"]["schemas"]["MovieView"];
    assert!(
        movie["properties"]["watchlist_count"].is_object(),
        "{movie}"
    );
    assert!(
        array(&movie["required"]).contains(&json!("watchlist_count")),
        "{movie}"
    );
    let list = &doc["paths"]["/api/v1/users/{id}/watchlist"]["get"];
    for status in ["200", "401", "403", "404", "422"] {
        assert!(list["responses"][status].is_object(), "{status}: {list}");
    }
    let entry = &doc["paths"]["/api/v1/users/{id}/watchlist/{movie_id}"];
    for method in ["put", "delete"] {
        for status in ["204", "401", "403", "404"] {
            assert!(
                entry[method]["responses"][status].is_object(),
                "{method} {status}: {entry}"
            );
        }
    }
}

#[tokio::test]
async fn concurrent_additions_and_removals_count_each_list_once() {
    let app = TestApp::spawn().await;
    let [movie] = <[String; 1]>::try_from(movies(&app, "Raced", 1).await).unwrap();
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(app.sign_up_user(&format!("Racer {i}")).await);
    }
    // Each user adds the movie three times at once, all users together.
    let additions = users
        .iter()
        .flat_map(|user| (0..3).map(|_| app.add_to_watchlist(&user.id, &movie, Some(&user.token))));
    for answer in futures::future::join_all(additions).await {
        answer.expect(204);
    }
    assert_eq!(app.watchlist_count(&movie).await, json!(4));
    for user in &users {
        assert_eq!(app.watchlist_ids(user).await, vec![movie.clone()]);
    }
    // Half of them remove it twice at once.
    let removals = users[..2].iter().flat_map(|user| {
        (0..2).map(|_| app.remove_from_watchlist(&user.id, &movie, Some(&user.token)))
    });
    for answer in futures::future::join_all(removals).await {
        answer.expect(204);
    }
    assert_eq!(app.watchlist_count(&movie).await, json!(2));
}

#[tokio::test]
async fn one_entry_tells_whether_a_movie_is_listed_to_the_owner_or_admin() {
    let app = TestApp::spawn().await;
    let [listed, unlisted] = <[String; 2]>::try_from(movies(&app, "Entry", 2).await).unwrap();
    let owner = app.sign_up_user("Owner").await;
    let other = app.sign_up_user("Other").await;
    app.add_to_watchlist(&owner.id, &listed, Some(&owner.token))
        .await
        .expect(204);

    let entry = app
        .get_auth(&entry_path(&owner.id, &listed), Some(&owner.token))
        .await
        .expect(200);
    assert_eq!(entry["movie_id"], json!(listed));
    assert_timestamp(&entry["added_at"]);
    let admin = app.admin();
    app.get_auth(&entry_path(&owner.id, &listed), admin)
        .await
        .expect(200);
    for movie in [unlisted.as_str(), "not-an-id"] {
        app.get_auth(&entry_path(&owner.id, movie), Some(&owner.token))
            .await
            .problem(404);
    }
    app.get_auth(&entry_path(&owner.id, &listed), None)
        .await
        .problem(401);
    app.get_auth(&entry_path(&owner.id, &listed), Some(&other.token))
        .await
        .problem(403);

    app.remove_from_watchlist(&owner.id, &listed, Some(&owner.token))
        .await
        .expect(204);
    app.get_auth(&entry_path(&owner.id, &listed), Some(&owner.token))
        .await
        .problem(404);
}
