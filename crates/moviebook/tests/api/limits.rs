//! Hostile clients (issue 10): inputs with bounded lengths, and the server's timeouts, caps
//! and load shedding (API.md, "Running"), each tried with small configured limits.

use crate::support::*;

#[tokio::test]
async fn login_with_an_email_or_password_longer_than_any_account_is_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let user = app.sign_up_user("Bounded Login").await;
    let long_email = format!("{}@example.com", "e".repeat(250));
    let long_password = "p".repeat(129);

    app.login(&long_email, &user.password)
        .await
        .invalid_field("email");
    app.login(&user.email, &long_password)
        .await
        .invalid_field("password");
    let both = app.login(&long_email, &"p".repeat(500_000)).await;
    let mut fields = both.invalid_fields();
    fields.sort();
    assert_eq!(fields, ["email", "password"], "{}", both.text);

    // Refused before the throttle counts anything: more than its five failures, and the
    // owner still logs in.
    for _ in 0..8 {
        app.login(&user.email, &long_password)
            .await
            .invalid_field("password");
    }
    app.login(&user.email, &user.password).await.expect(200);
    // The longest password an account can have is still only a wrong one.
    app.login(&user.email, &"p".repeat(128)).await.problem(401);
}

#[tokio::test]
async fn a_search_of_more_than_200_characters_or_10_words_is_422_naming_search() {
    let app = TestApp::spawn().await;
    let ten_words = "one two three four five six seven eight nine ten";
    let eleven_words = format!("{ten_words} eleven");
    let longest = "x".repeat(200);
    let too_long = "x".repeat(201);
    for list in ["/movies", "/actors"] {
        for refused in [&eleven_words, &too_long] {
            app.get(&format!("{list}?search={}", enc(refused)))
                .await
                .invalid_field("search");
        }
        for accepted in [ten_words, longest.as_str()] {
            app.get(&format!("{list}?search={}", enc(accepted)))
                .await
                .expect(200);
        }
    }
    // Every failing parameter is still listed.
    let both = app
        .get(&format!("/movies?search={}&limit=0", enc(&eleven_words)))
        .await;
    let mut fields = both.invalid_fields();
    fields.sort();
    assert_eq!(fields, ["limit", "search"], "{}", both.text);
}
