//! `moviebook verify [--repair]` beside a running server: read models damaged directly in
//! the store (items deleted and altered, one added) are each reported, `--repair` puts them
//! right, a following `verify` exits 0, and the API serves the right answers again.

use std::sync::Arc;

use clap::Parser;
use serde_json::{Value, json};
use store::{Item, Key, Store, Write};

use crate::support::process::run_moviebook;
use crate::support::*;

/// The store settings `serve` takes, parsed from the deployment's environment as flags.
#[derive(Parser)]
struct Settings {
    #[command(flatten)]
    config: moviebook::Config,
}

/// The server's own store, opened beside it.
async fn open_store(app: &TestApp) -> Arc<dyn Store> {
    let data_dir = app.data_dir();
    let mut args = vec![
        "moviebook".to_owned(),
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
    ];
    for (name, value) in app.deployment_env() {
        let flag = name
            .trim_start_matches("MOVIEBOOK_")
            .to_lowercase()
            .replace('_', "-");
        args.extend([format!("--{flag}"), value]);
    }
    let settings = Settings::try_parse_from(args).expect("the deployment's settings");
    moviebook::app::open_store(&settings.config)
        .await
        .expect("the server's store")
        .0
}

/// Runs `moviebook verify ARGS` on the server's store; whether it exited 0, and its output.
async fn verify(app: &TestApp, args: &[&str]) -> (bool, String) {
    let mut args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    args.splice(0..0, ["verify", "--settle", "1"].map(String::from));
    let (data_dir, env) = (app.data_dir(), app.deployment_env());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_moviebook(&args, &data_dir, &env)
    })
    .await
    .expect("verify ran")
}

/// The one stored item whose key satisfies `wanted`.
fn find(items: &[Item], what: &str, wanted: impl Fn(&Key) -> bool) -> Item {
    let found: Vec<&Item> = items.iter().filter(|item| wanted(&item.key)).collect();
    assert_eq!(found.len(), 1, "one {what}: {found:?}");
    found[0].clone()
}

fn altered(item: &Item, name: &str, value: Value) -> Write {
    let mut item = item.clone();
    item.attrs.insert(name.into(), value);
    Write::put(item)
}

#[tokio::test]
async fn verify_reports_every_damaged_read_model_and_repair_puts_each_right() {
    own_server_only!("it damages its own server's store");
    let mut app = TestApp::spawn().await;
    let actor = app.create_actor("Verified Actor").await;
    let actor_id = actor["id"].as_str().expect("an actor id").to_owned();
    let cast = [(actor_id.as_str(), "Lead")];
    let a = app
        .create_movie("Verified A", 1990, &["drama"], &cast)
        .await;
    let b = app
        .create_movie("Verified B", 1991, &["drama"], &cast)
        .await;
    let c = app.create_movie("Verified C", 1992, &["drama"], &[]).await;
    let [a, b, c] = [a, b, c].map(|movie| movie["id"].as_str().expect("an id").to_owned());
    let first = app.sign_up_user("First Reviewer").await;
    let second = app.sign_up_user("Second Reviewer").await;
    for (movie, user, score) in [
        (&a, &first, 8),
        (&a, &second, 6),
        (&b, &first, 9),
        (&c, &first, 5),
    ] {
        app.review(movie, &user.token, score, Some("seen"))
            .await
            .expect(201);
    }
    app.patch_json(
        &format!("/users/{}", second.id),
        Some(&second.token),
        &json!({ "name": "Second Renamed" }),
    )
    .await
    .expect(200);
    app.delete(&format!("/movies/{c}"), app.admin())
        .await
        .expect(204);
    app.await_movie_score(&a, &[8, 6]).await;
    app.await_movie_score(&b, &[9]).await;
    eventually_equals(
        "the rename on the review",
        &json!("Second Renamed"),
        async || {
            app.get(&format!("/movies/{a}/reviews/{}", second.id))
                .await
                .expect(200)["user_name"]
                .clone()
        },
    )
    .await;
    eventually_equals("the deleted movie's review gone", &404, async || {
        app.get(&format!("/movies/{c}/reviews/{}", first.id))
            .await
            .status
    })
    .await;

    let (agree, output) = verify(&app, &[]).await;
    assert!(agree, "the views agree before any damage:\n{output}");
    if app.deployment_env().is_empty() {
        let missing = tempfile::tempdir().expect("a temporary directory");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_moviebook"))
            .args(["verify", "--data-dir"])
            .arg(missing.path().join("none"))
            .output()
            .expect("run the moviebook binary");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && said.contains("holds no MovieBook store"),
            "{said}"
        );
        assert!(!missing.path().join("none").exists(), "nothing is created");
    }
    assert!(output.contains("every derived view agrees"), "{output}");

    let store = open_store(&app).await;
    let items = store::every_item(store.as_ref()).await.expect("a scan");
    let is = |pk: String, sk: String| move |key: &Key| key.pk == pk && key.sk == sk;
    let ends = |prefix: &'static str, id: String| {
        move |key: &Key| key.pk.starts_with(prefix) && key.sk.ends_with(&id)
    };
    let summary_b = find(
        &items,
        "summary of B",
        is(format!("summary#{b}"), "summary".into()),
    );
    let genre_count = find(&items, "drama count", is("genres".into(), "drama".into()));
    // The shards a deleted movie's reviews counted in hold zeros: take one that counts.
    let catalogue_tally = items
        .iter()
        .find(|item| item.key.pk.starts_with("catalogue#") && item.attrs["review_count"] != 0)
        .cloned()
        .expect("a shard of the catalogue's tally counting reviews");
    let review = find(
        &items,
        "first review of A",
        is(format!("reviewer#{}", first.id), format!("movie#{a}")),
    );
    let pointer = find(
        &items,
        "pointer of the second review of A",
        is(format!("userreview#{}#{a}", second.id), "pointer".into()),
    );
    let mut orphan = find(
        &items,
        "second review of A",
        is(format!("reviewer#{}", second.id), format!("movie#{a}")),
    );
    let damage = vec![
        // Deleted: a summary, list entries, an index entry, a claim, a listing.
        Write::delete(Key::new(format!("summary#{a}"), "summary")),
        Write::delete(find(&items, "A in drama", ends("genre#drama#", a.clone())).key),
        Write::delete(
            find(
                &items,
                "A in the filmography",
                ends("filmography#", a.clone()),
            )
            .key,
        ),
        Write::delete(
            find(
                &items,
                "B in the first user's list",
                ends("userreviews#", b.clone()),
            )
            .key,
        ),
        Write::delete(
            find(
                &items,
                "the actor's listing",
                ends("actors#", actor_id.clone()),
            )
            .key,
        ),
        Write::delete(
            find(&items, "the first user's claim", |k| {
                k.pk == format!("email#{}", first.email.to_lowercase())
            })
            .key,
        ),
        Write::delete(
            find(
                &items,
                "the second review by time",
                ends("recent#", second.id.clone()),
            )
            .key,
        ),
        // B's catalogue listing and its lifecycle, as if its creation was never projected.
        Write::delete(find(&items, "B in all movies", ends("movies#", b.clone())).key),
        Write::delete(Key::new(format!("lifecycle#{b}"), "catalog")),
        Write::delete(
            find(
                &items,
                "A in the most-reviewed list",
                ends("mostreviewed#", a.clone()),
            )
            .key,
        ),
        // Altered: a tally, a count, a pointer's score, a reviewer's name.
        altered(&summary_b, "score_sum", json!(3)),
        altered(&genre_count, "movie_count", json!(7)),
        altered(&catalogue_tally, "score_sum", json!(1000)),
        altered(&pointer, "score", json!(2)),
        altered(&review, "user_name", json!("Someone Else")),
        // Added: a top-rated entry out of place, and a review of the deleted movie.
        Write::put(Item::new(
            Key::new("toprated#0", format!("00000000000000000001#{b}")),
            [
                ("movie_id".to_owned(), json!(b)),
                ("review_count".to_owned(), json!(1)),
            ]
            .into_iter()
            .collect(),
        )),
        {
            orphan.key = Key::new(format!("reviewer#{}", second.id), format!("movie#{c}"));
            orphan.attrs.insert("movie_id".into(), json!(c));
            Write::put(orphan)
        },
    ];
    for write in damage {
        store.transact(vec![write]).await.expect("damage");
    }

    let (agree, output) = verify(&app, &[]).await;
    assert!(!agree, "verify exits 1 on differences:\n{output}");
    for view in [
        "movie scores, top-rated and users' review lists:",
        "catalog:",
        "filmography:",
        "genre counts:",
        "reviewer names on reviews:",
        "actors list:",
        "e-mail claims:",
        "reviews by time:",
        "reviews of deleted movies or users:",
        "catalogue tally:",
    ] {
        assert!(output.contains(view), "{view} is reported:\n{output}");
    }
    assert!(
        output.contains(&format!("summary#{a} / summary: missing")),
        "{output}"
    );
    assert!(output.contains("differs in score_sum"), "{output}");
    assert!(output.contains("differs in movie_count"), "{output}");

    let (agree, output) = verify(&app, &["--repair"]).await;
    assert!(agree, "--repair leaves nothing to repair:\n{output}");
    assert!(output.contains("verify: repaired"), "{output}");
    let (agree, output) = verify(&app, &[]).await;
    assert!(agree, "a following verify exits 0:\n{output}");

    // A fresh process, so no answer comes from before the damage.
    app.restart().await;
    app.await_movie_score(&a, &[8, 6]).await;
    app.await_movie_score(&b, &[9]).await;
    assert_eq!(app.genre_count("drama").await, Some(json!(2)));
    let listed = ids(&app.get("/movies").await.items());
    assert_eq!(
        listed,
        [b.clone(), a.clone()],
        "every live movie listed once"
    );
    let top = ids(&app.get("/movies/top-rated").await.items());
    assert_eq!(top, [b.clone(), a.clone()], "top-rated by score, once each");
    // C = 23/3 again: B (9) is (9 + 10·23/3)/11 = 7.787…, A (8, 6) (14 + 10·23/3)/12 = 7.555…
    let weighted: Vec<(String, Value)> = app
        .get("/movies/top-rated?rank=weighted")
        .await
        .items()
        .iter()
        .map(|item| {
            (
                item["id"].as_str().unwrap_or("").to_owned(),
                item["weighted_score"].clone(),
            )
        })
        .collect();
    assert_eq!(
        weighted,
        [(b.clone(), json!(7.79)), (a.clone(), json!(7.56))],
        "the weighted ranking from the repaired tally and lists"
    );
    let filmography = app.get(&format!("/actors/{actor_id}")).await.expect(200);
    assert_eq!(ids(array(&filmography["movies"])), [b.clone(), a.clone()]);
    let page = app.get(&format!("/users/{}", first.id)).await.expect(200);
    let reviewed: Vec<String> = array(&page["reviews"])
        .iter()
        .map(|r| r["movie_id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(reviewed, [b.clone(), a.clone()]);
    let reviews = app.get(&format!("/movies/{a}/reviews")).await.items();
    assert_eq!(texts(&reviews, "user_name").len(), 2, "{reviews:?}");
    assert!(texts(&reviews, "user_name").contains(&"First Reviewer".to_owned()));
    assert_eq!(ids(&app.get("/actors").await.items()), [actor_id]);
    app.login(&first.email, &first.password).await.expect(200);
    app.get(&format!("/movies/{c}/reviews/{}", second.id))
        .await
        .expect(404);
}

#[tokio::test]
async fn a_repair_beside_a_server_taking_reviews_miscounts_nothing() {
    own_server_only!("it damages its own server's store");
    let app = TestApp::spawn().await;
    let busy = [
        app.create_movie("Busy One", 2001, &["thriller"], &[]).await,
        app.create_movie("Busy Two", 2002, &["thriller"], &[]).await,
    ]
    .map(|movie| movie["id"].as_str().expect("an id").to_owned());
    let quiet = app.create_movie("Quiet", 2003, &["thriller"], &[]).await;
    let quiet = quiet["id"].as_str().expect("an id").to_owned();
    let mut users = Vec::new();
    for i in 0..3 {
        users.push(app.sign_up_user(&format!("Busy Reviewer {i}")).await);
    }
    app.review(&quiet, &users[0].token, 4, None)
        .await
        .expect(201);
    app.await_movie_score(&quiet, &[4]).await;

    // Reviews keep arriving on the busy movies while the quiet one is damaged and repaired.
    let writing = tokio_util::sync::CancellationToken::new();
    let writer = async {
        let mut latest = std::collections::BTreeMap::new();
        let mut round = 0_i64;
        while !writing.is_cancelled() {
            round += 1;
            for (m, movie) in busy.iter().enumerate() {
                for (u, user) in users.iter().enumerate() {
                    let score = (round + m as i64 + u as i64) % 10 + 1;
                    let answer = app.review(movie, &user.token, score, None).await;
                    if matches!(answer.status, 200 | 201) {
                        latest.insert((m, u), score);
                    }
                }
            }
        }
        latest
    };
    let repairing = async {
        let store = open_store(&app).await;
        let items = store::every_item(store.as_ref()).await.expect("a scan");
        let summary = find(&items, "the quiet summary", |key| {
            key.pk == format!("summary#{quiet}")
        });
        let count = find(&items, "the thriller count", |key| {
            key.pk == "genres" && key.sk == "thriller"
        });
        for write in [
            altered(&summary, "score_sum", json!(40)),
            altered(&count, "movie_count", json!(30)),
        ] {
            store.transact(vec![write]).await.expect("damage");
        }
        let repaired = verify(&app, &["--repair"]).await;
        writing.cancel();
        repaired
    };
    let (latest, (_, output)) = tokio::join!(writer, repairing);
    assert!(output.contains("verify: repaired"), "{output}");

    for (m, movie) in busy.iter().enumerate() {
        let scores: Vec<i64> = (0..users.len()).map(|u| latest[&(m, u)]).collect();
        app.await_movie_score(movie, &scores).await;
    }
    app.await_movie_score(&quiet, &[4]).await;
    assert_eq!(app.genre_count("thriller").await, Some(json!(3)));
    let (agree, output) = verify(&app, &[]).await;
    assert!(
        agree,
        "nothing is left to repair, nothing was miscounted:\n{output}"
    );
}

/// The items of one partition (at most 100).
async fn partition(store: &dyn Store, pk: String) -> Vec<Item> {
    store
        .query(&store::Query::prefix(pk, "", 100))
        .await
        .expect("a query")
        .items
}

#[tokio::test]
async fn deleted_movies_and_users_leave_no_watch_list_items_and_verify_repairs_damaged_lists() {
    own_server_only!("it damages its own server's store");
    let app = TestApp::spawn().await;
    let [kept, second, doomed] = [
        app.create_movie("Watched One", 2001, &["drama"], &[]).await,
        app.create_movie("Watched Two", 2002, &["drama"], &[]).await,
        app.create_movie("Watched Doomed", 2003, &["drama"], &[])
            .await,
    ]
    .map(|movie| movie["id"].as_str().expect("an id").to_owned());
    let first = app.sign_up_user("First Watcher").await;
    let other = app.sign_up_user("Other Watcher").await;
    let leaving = app.sign_up_user("Leaving Watcher").await;
    for (user, movie) in [
        (&first, &kept),
        (&first, &second),
        (&first, &doomed),
        (&other, &kept),
        (&leaving, &kept),
        (&leaving, &doomed),
    ] {
        let path = format!("/api/v1/users/{}/watchlist/{movie}", user.id);
        app.raw(reqwest::Method::PUT, &path, Some(&user.token), None, None)
            .await
            .expect(204);
    }
    app.delete(&format!("/movies/{doomed}"), app.admin())
        .await
        .expect(204);
    app.delete(&format!("/users/{}", leaving.id), Some(&leaving.token))
        .await
        .expect(204);

    // The deleted movie's watchers and count, and the deleted user's list, are removed.
    let store = open_store(&app).await;
    eventually(
        "the deleted movie's and user's watch list items gone",
        async || {
            let mut left = partition(store.as_ref(), format!("watchers#{doomed}")).await;
            left.extend(partition(store.as_ref(), format!("watchlist#{}", leaving.id)).await);
            left.extend(
                partition(store.as_ref(), format!("movie#{doomed}"))
                    .await
                    .into_iter(),
            );
            let first_list = partition(store.as_ref(), format!("watchlist#{}", first.id)).await;
            left.extend(
                first_list
                    .into_iter()
                    .filter(|item| item.key.sk.contains(&doomed)),
            );
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        },
    )
    .await;
    eventually_equals("the kept movie counts two lists", &json!(2), async || {
        app.get_ok(&format!("/movies/{kept}")).await["watchlist_count"].clone()
    })
    .await;
    let (agree, output) = verify(&app, &[]).await;
    assert!(agree, "the watch lists agree before any damage:\n{output}");

    let items = store::every_item(store.as_ref()).await.expect("a scan");
    let count = find(&items, "the kept movie's count", |key| {
        key.pk == format!("movie#{kept}") && key.sk == "watchlist"
    });
    let order_entry = find(&items, "the kept movie on the first list by time", |key| {
        key.pk == format!("watchlist#{}", first.id)
            && key.sk.starts_with("at#")
            && key.sk.ends_with(&kept)
    });
    let damage = vec![
        Write::delete(order_entry.key),
        Write::delete(Key::new(format!("watchers#{second}"), first.id.clone())),
        altered(&count, "count", json!(5)),
        // A membership of the deleted movie, and a count of it.
        Write::put(Item::new(
            Key::new(format!("watchlist#{}", other.id), format!("in#{doomed}")),
            [
                ("movie_id".to_owned(), json!(doomed)),
                ("added_at".to_owned(), json!(1)),
            ]
            .into_iter()
            .collect(),
        )),
        Write::put(Item::new(
            Key::new(format!("movie#{doomed}"), "watchlist"),
            [("count".to_owned(), json!(1))].into_iter().collect(),
        )),
    ];
    for write in damage {
        store.transact(vec![write]).await.expect("damage");
    }

    let (agree, output) = verify(&app, &[]).await;
    assert!(!agree, "verify exits 1 on differences:\n{output}");
    for view in [
        "watch lists by time:",
        "watchers of movies:",
        "watch list counts:",
        "watch list memberships of deleted movies or users:",
    ] {
        assert!(output.contains(view), "{view} is reported:\n{output}");
    }
    assert!(output.contains("differs in count"), "{output}");

    let (agree, output) = verify(&app, &["--repair"]).await;
    assert!(agree, "--repair leaves nothing to repair:\n{output}");
    let (agree, output) = verify(&app, &[]).await;
    assert!(agree, "a following verify exits 0:\n{output}");

    eventually_equals(
        "the kept movie counts two lists again",
        &json!(2),
        async || app.get_ok(&format!("/movies/{kept}")).await["watchlist_count"].clone(),
    )
    .await;
    let list = app
        .get_auth(
            &format!("/users/{}/watchlist", first.id),
            Some(&first.token),
        )
        .await
        .expect(200);
    assert_eq!(ids(array(&list["items"])), [second.clone(), kept.clone()]);
    let list = app
        .get_auth(
            &format!("/users/{}/watchlist", other.id),
            Some(&other.token),
        )
        .await
        .expect(200);
    assert_eq!(ids(array(&list["items"])), vec![kept.clone()]);
    assert!(
        partition(store.as_ref(), format!("movie#{doomed}"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn verify_repairs_the_copies_of_posters_and_photos() {
    own_server_only!("it damages its own server's store");
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let actor = app.create_actor("Pictured Actor").await;
    let actor_id = actor["id"].as_str().expect("an id").to_owned();
    let movie = app
        .create_movie("Pictured Movie", 2004, &["drama"], &[(&actor_id, "lead")])
        .await;
    let movie_id = movie["id"].as_str().expect("an id").to_owned();
    for (path, size) in [
        (format!("/api/v1/movies/{movie_id}/poster"), (20, 30)),
        (format!("/api/v1/actors/{actor_id}/photo"), (30, 30)),
    ] {
        app.raw(
            reqwest::Method::PUT,
            &path,
            admin,
            Some("image/png"),
            Some(png(size.0, size.1)),
        )
        .await
        .expect(200);
    }
    let shown = async || {
        let movie = app.get_ok(&format!("/movies/{movie_id}")).await;
        let listed = app.get_ok("/genres/drama/movies").await;
        let summary = listed["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["id"] == movie_id.as_str()))
            .cloned()
            .unwrap_or_default();
        (
            movie["actors"][0]["photo"].clone(),
            summary["poster"].clone(),
        )
    };
    let (photo, poster) = eventually("the photo and poster copied", async || {
        match shown().await {
            (photo, poster) if !photo.is_null() && !poster.is_null() => Ok((photo, poster)),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (clean, output) = verify(&app, &[]).await;
    assert!(clean, "nothing to find before the damage:\n{output}");

    // The movies service's copy of the photo deleted, the summary's poster altered.
    let store = open_store(&app).await;
    store
        .transact(vec![Write::delete(Key::new(
            format!("actorphoto#{actor_id}"),
            "photo",
        ))])
        .await
        .expect("the copy deleted");
    let summary = store
        .get(&Key::new(format!("summary#{movie_id}"), "summary"))
        .await
        .expect("a read")
        .expect("the summary");
    store
        .transact(vec![altered(&summary, "poster", Value::Null)])
        .await
        .expect("the poster altered");

    let (clean, output) = verify(&app, &[]).await;
    assert!(!clean, "the damage is found:\n{output}");
    assert!(
        output.contains(&format!("actorphoto#{actor_id}")),
        "{output}"
    );
    assert!(output.contains(&format!("summary#{movie_id}")), "{output}");
    let (_, output) = verify(&app, &["--repair"]).await;
    let (clean, after) = verify(&app, &[]).await;
    assert!(clean, "repaired ({output}), nothing is left:\n{after}");
    eventually("the photo and poster shown again", async || {
        match shown().await {
            (shown_photo, shown_poster) if shown_photo == photo && shown_poster == poster => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
