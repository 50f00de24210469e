//! Top-rated by weighted rating (API.md, Ranking): `rank=weighted&m=`.
//!
//! On a server of its own a test knows every review in the catalogue, so it computes `C`,
//! each weighted rating and the whole order by brute force, exactly (integers), and compares.
//! On a shared server `C` also counts other tests' reviews, and other tests' movies may
//! crowd the bottom of the list out of its first 100; there the tests check what holds for
//! any `C` below 10 among movies near the top.

use std::cmp::Ordering;

use serde_json::{Value, json};

use crate::support::*;

/// Our movies' reviews, by id.
type Catalogue = Vec<(String, Vec<i64>)>;

/// A prior weight as an exact fraction `p/q`.
#[derive(Clone, Copy, Debug)]
struct Weight {
    p: i128,
    q: i128,
}

const M_DEFAULT: Weight = Weight { p: 10, q: 1 };

/// `WR = (S·q·N + p·T) / (N·(v·q + p))` as a numerator and a positive denominator, with
/// `T/N` the catalogue's mean.
fn weighted(scores: &[i64], catalogue: (i128, i128), m: Weight) -> (i128, i128) {
    let sum = i128::from(scores.iter().sum::<i64>());
    let count = scores.len() as i128;
    let (t, n) = catalogue;
    (sum * m.q * n + m.p * t, n * (count * m.q + m.p))
}

/// Rounded half away from zero to two decimals (the values are positive).
fn rounded((a, b): (i128, i128)) -> f64 {
    ((200 * a + b) / (2 * b)) as f64 / 100.0
}

/// Our movies with at least `min_reviews` reviews, in the contract's order, each with its
/// expected weighted score; `catalogue` holds every review in the catalogue.
fn brute_force(
    ours: &Catalogue,
    catalogue: &Catalogue,
    m: Weight,
    min_reviews: usize,
) -> Vec<(String, f64)> {
    let every: Vec<i64> = catalogue.iter().flat_map(|(_, s)| s.clone()).collect();
    let mean = (i128::from(every.iter().sum::<i64>()), every.len() as i128);
    let mut rated: Vec<(&String, &Vec<i64>, (i128, i128))> = ours
        .iter()
        .filter(|(_, scores)| scores.len() >= min_reviews && !scores.is_empty())
        .map(|(id, scores)| (id, scores, weighted(scores, mean, m)))
        .collect();
    rated.sort_by(|(a_id, a, (an, ad)), (b_id, b, (bn, bd))| {
        (bn * ad)
            .cmp(&(an * bd))
            .then(b.len().cmp(&a.len()))
            .then(a_id.cmp(b_id))
    });
    rated
        .into_iter()
        .map(|(id, _, wr)| (id.clone(), rounded(wr)))
        .collect()
}

async fn top_rated(app: &TestApp, query: &str) -> Vec<Value> {
    let resp = app.get(&format!("/movies/top-rated{query}")).await;
    let items = resp.items();
    assert_no_duplicates(&ids(&items), &resp.request);
    items
}

/// Our movies of a list, each with its weighted score.
fn ours_with_scores(items: &[Value], ours: &Catalogue) -> Vec<(String, f64)> {
    items
        .iter()
        .filter(|item| ours.iter().any(|(id, _)| item["id"] == json!(id)))
        .map(|item| {
            let score = item["weighted_score"]
                .as_f64()
                .unwrap_or_else(|| panic!("no weighted_score: {item}"));
            (item["id"].as_str().unwrap_or_default().to_owned(), score)
        })
        .collect()
}

/// Waits until the weighted list of `query` shows our movies as `want` (ids and scores).
async fn await_weighted(app: &TestApp, query: &str, ours: &Catalogue, want: &[(String, f64)]) {
    eventually(&format!("top-rated{query} is {want:?}"), async || {
        let items = top_rated(app, query).await;
        let found = ours_with_scores(&items, ours);
        if found == want {
            Ok(())
        } else {
            Err(format!("found {found:?}"))
        }
    })
    .await;
}

/// Creates movies reviewed with these scores (one reviewer per score, in order).
async fn reviewed_movies(app: &TestApp, plan: &[Vec<i64>], tokens: &[String]) -> Catalogue {
    let tag = tag();
    let mut catalogue = Vec::new();
    for (i, scores) in plan.iter().enumerate() {
        let movie = app
            .create_movie(&format!("Weighted {i} {tag}"), 2000, &["drama"], &[])
            .await;
        let id = movie["id"].as_str().unwrap_or_default().to_owned();
        for (token, score) in tokens.iter().zip(scores) {
            app.review(&id, token, *score, None).await.expect(201);
        }
        catalogue.push((id, scores.clone()));
    }
    for (id, scores) in &catalogue {
        app.await_movie_score(id, scores).await;
    }
    catalogue
}

#[tokio::test]
async fn weighted_top_rated_orders_by_exact_weighted_rating_then_count_then_id() {
    let app = TestApp::spawn().await;
    let tokens = app.sign_up_tokens("Weigher", 6).await;
    // Means above, at and below the catalogue's, with few and many reviews; two movies
    // alike (a tie on rating and count, broken by id), and one at a mean equal to another's
    // with more reviews.
    let plan = vec![
        vec![10],
        vec![10, 10, 10, 10, 10, 10],
        vec![9, 8],
        vec![9, 8, 9, 8],
        vec![6, 7, 6],
        vec![6, 7, 6],
        vec![1],
        vec![1, 1, 1, 1, 1],
        vec![3, 4],
        vec![5, 5, 6, 6, 7, 7],
    ];
    let ours = reviewed_movies(&app, &plan, &tokens).await;
    if !app.owns_server() {
        // C is below 10 (ours include a 1): of two movies of 10s, the one with more reviews
        // is pulled less towards C.
        let order = [ours[1].0.clone(), ours[0].0.clone()];
        eventually_in_order(
            "top-rated?rank=weighted puts six 10s above one 10",
            &order,
            &order,
            async || top_rated(&app, "?rank=weighted&limit=100").await,
        )
        .await;
        return;
    }
    for (query, m, min_reviews) in [
        ("?rank=weighted&limit=100", M_DEFAULT, 1),
        ("?rank=weighted&m=10&limit=100", M_DEFAULT, 1),
        ("?rank=weighted&m=2.5&limit=100", Weight { p: 5, q: 2 }, 1),
        (
            "?rank=weighted&m=1e3&limit=100",
            Weight { p: 1000, q: 1 },
            1,
        ),
        ("?rank=weighted&m=0.125&limit=4", Weight { p: 1, q: 8 }, 1),
        ("?rank=weighted&limit=100&min_reviews=3", M_DEFAULT, 3),
        (
            "?rank=weighted&m=0&limit=100&min_reviews=2",
            Weight { p: 0, q: 1 },
            2,
        ),
    ] {
        let mut want = brute_force(&ours, &ours, m, min_reviews);
        if query.contains("limit=4") {
            want.truncate(4);
        }
        await_weighted(&app, query, &ours, &want).await;
    }
    // m = 0 is the mean order itself; rank=mean (the default) carries no weighted_score.
    let by_mean = ids(&top_rated(&app, "?limit=100").await);
    let by_weight_zero = ids(&top_rated(&app, "?rank=weighted&m=0&limit=100").await);
    assert_eq!(by_weight_zero, by_mean);
    for query in ["?limit=100", "?rank=mean&limit=100", "?rank=mean&m=3"] {
        for item in top_rated(&app, query).await {
            assert!(item.get("weighted_score").is_none(), "{query}: {item}");
        }
    }
    // The items are the movies' summaries, as rank=mean shows them.
    let weighted = top_rated(&app, "?rank=weighted&limit=100").await;
    for item in &weighted {
        let (_, scores) = ours.iter().find(|(id, _)| item["id"] == json!(id)).unwrap();
        assert!(same_score(&item["score"], &score_json(scores)), "{item}");
        assert_eq!(item["review_count"], json!(scores.len()), "{item}");
        assert!(
            item["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("Weighted"))
        );
    }
}

#[tokio::test]
async fn the_catalogue_mean_follows_new_reviews_deletions_and_deleted_movies() {
    let app = TestApp::spawn().await;
    let tokens = app.sign_up_tokens("Critic", 4).await;
    let mut ours = reviewed_movies(&app, &[vec![9, 9], vec![4], vec![7, 6, 8]], &tokens).await;
    if !app.owns_server() {
        // C moves with every test's reviews; a weighted score lies between the movie's
        // mean and C, which lies between the lowest and highest score.
        let nines = &ours[0].0;
        eventually(
            "the movie of 9s is listed with a weighted score from 1 to 9",
            async || {
                let items = top_rated(&app, "?rank=weighted&limit=100&min_reviews=2").await;
                match items.iter().find(|item| item["id"] == json!(nines)) {
                    Some(item) => match item["weighted_score"].as_f64() {
                        Some(score) if (1.0..=9.0).contains(&score) => Ok(()),
                        _ => Err(format!("{item}")),
                    },
                    None => Err("not listed".into()),
                }
            },
        )
        .await;
        return;
    }
    let query = "?rank=weighted&limit=100";
    await_weighted(&app, query, &ours, &brute_force(&ours, &ours, M_DEFAULT, 1)).await;

    // A new low review of the 4 lowers C, and with it every weighted score.
    app.review(&ours[1].0, &tokens[1], 1, None)
        .await
        .expect(201);
    ours[1].1.push(1);
    await_weighted(&app, query, &ours, &brute_force(&ours, &ours, M_DEFAULT, 1)).await;

    // Replacing a review moves C by the difference.
    app.review(&ours[2].0, &tokens[0], 10, None)
        .await
        .expect(200);
    ours[2].1[0] = 10;
    await_weighted(&app, query, &ours, &brute_force(&ours, &ours, M_DEFAULT, 1)).await;

    // A deleted review leaves C.
    let user = app
        .get(&format!("/movies/{}/reviews", ours[0].0))
        .await
        .items()[0]["user_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let review = format!("/movies/{}/reviews/{user}", ours[0].0);
    app.delete(&review, app.admin()).await.expect(204);
    ours[0].1.pop();
    await_weighted(&app, query, &ours, &brute_force(&ours, &ours, M_DEFAULT, 1)).await;

    // A deleted movie's reviews leave C too.
    let gone = ours.remove(2);
    app.delete(&format!("/movies/{}", gone.0), app.admin())
        .await
        .expect(204);
    await_weighted(&app, query, &ours, &brute_force(&ours, &ours, M_DEFAULT, 1)).await;
}

#[tokio::test]
async fn top_rated_rejects_an_unknown_rank_and_a_weight_that_is_not_a_number_of_at_least_0() {
    let app = TestApp::spawn().await;
    for query in ["rank=best", "rank=WEIGHTED", "rank="] {
        app.get(&format!("/movies/top-rated?{query}"))
            .await
            .invalid_field("rank");
    }
    for m in [
        "-1", "-0.5", "abc", "NaN", "inf", "-inf", "1e999", "", "1,5", "0x10",
    ] {
        let resp = app
            .get(&format!("/movies/top-rated?rank=weighted&m={m}"))
            .await;
        assert_eq!(resp.invalid_fields(), ["m"], "m={m}");
    }
    let mut fields = app
        .get("/movies/top-rated?rank=worst&m=-3&limit=0")
        .await
        .invalid_fields();
    fields.sort();
    assert_eq!(fields, ["limit", "m", "rank"]);
    // A decimal weight, with or without an exponent, is a number.
    for m in ["0", "2.5", ".5", "1e2", "1E-1", "100000"] {
        app.get(&format!("/movies/top-rated?rank=weighted&m={m}"))
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn the_openapi_document_describes_rank_m_and_weighted_score() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let parameters = doc["paths"]["/api/v1/movies/top-rated"]["get"]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let named = |name: &str| {
        parameters
            .iter()
            .find(|p| p["name"] == json!(name))
            .cloned()
            .unwrap_or_else(|| panic!("no parameter {name}: {parameters:?}"))
    };
    assert_eq!(named("m")["schema"]["minimum"], json!(0));
    assert_eq!(
        named("rank")["schema"]["$ref"],
        json!("#/components/schemas/RankBy")
    );
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["RankBy"]["enum"], json!(["mean", "weighted"]));
    let ranked = schemas["RankedSummary"].to_string();
    assert!(
        ranked.contains("weighted_score") && ranked.contains("MovieSummary"),
        "{ranked}"
    );
}

#[test]
fn the_brute_force_rates_exactly() {
    // C = 6 (60/10), m = 10: a single 10 is (10 + 60)/11 = 6.3636…
    let catalogue = (60, 10);
    assert_eq!(rounded(weighted(&[10], catalogue, M_DEFAULT)), 6.36);
    // A mean below C with fewer reviews is closer to C.
    let few = weighted(&[3], catalogue, M_DEFAULT);
    let many = weighted(&[3, 3, 3, 3], catalogue, M_DEFAULT);
    assert_eq!((few.0 * many.1).cmp(&(many.0 * few.1)), Ordering::Greater);
}
