//! Test data made through the API as a client would make it: unique tags, actors and
//! movies (as the admin), users with their tokens, logins and reviews, and the genre counts
//! tests compare.

use serde_json::{Value, json};

use super::app::TestApp;
use super::client::Resp;

/// A unique lower-case word (letters and digits) for scoping titles, names and genres.
pub fn tag() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}", &id[..11])
}

/// A `width`×`height` PNG with a gradient (so that resizing it does something).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("encoding a test picture");
    bytes.into_inner()
}

/// A user created by [`TestApp::sign_up_user`].
#[derive(Debug, Clone)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// A bearer token of the user's.
    pub token: String,
    /// The unique e-mail address the user signed up with.
    pub email: String,
    /// The user's password.
    pub password: String,
}

impl TestApp {
    /// Creates an actor with only a name (admin); returns the actor.
    pub async fn create_actor(&self, name: &str) -> Value {
        self.create_actor_with(&json!({ "name": name })).await
    }

    /// Creates an actor from a full body (admin); returns the actor.
    pub async fn create_actor_with(&self, body: &Value) -> Value {
        self.post_json("/actors", self.admin(), body)
            .await
            .expect(201)
    }

    /// Creates a movie (admin) with a cast of `(actor_id, role)`; returns the movie.
    pub async fn create_movie(
        &self,
        title: &str,
        release_year: i64,
        genres: &[&str],
        cast: &[(&str, &str)],
    ) -> Value {
        let actors: Vec<Value> = cast
            .iter()
            .map(|(id, role)| json!({ "actor_id": id, "role": role }))
            .collect();
        self.create_movie_with(&json!({ "title": title, "release_year": release_year, "genres": genres, "actors": actors }))
            .await
    }

    /// Creates a movie from a full body (admin); returns the movie.
    pub async fn create_movie_with(&self, body: &Value) -> Value {
        self.post_json("/movies", self.admin(), body)
            .await
            .expect(201)
    }

    /// `POST /users`: a sign-up with this name, e-mail and password.
    pub async fn post_user(&self, name: &str, email: &str, password: &str) -> Resp {
        self.post_json(
            "/users",
            None,
            &json!({ "name": name, "email": email, "password": password }),
        )
        .await
    }

    /// Signs a user up with a unique e-mail and logs in: `(user_id, token)`.
    pub async fn sign_up(&self, name: &str) -> (String, String) {
        let user = self.sign_up_user(name).await;
        (user.id, user.token)
    }

    /// Signs up `n` users named `name 0`, `name 1`, … one after the other; returns their
    /// tokens.
    pub async fn sign_up_tokens(&self, name: &str, n: usize) -> Vec<String> {
        let mut tokens = Vec::with_capacity(n);
        for i in 0..n {
            tokens.push(self.sign_up(&format!("{name} {i}")).await.1);
        }
        tokens
    }

    /// [`TestApp::sign_up_user`] with an owned name, for many sign-ups at once.
    pub async fn sign_up_user_named(&self, name: String) -> User {
        self.sign_up_user(&name).await
    }

    /// Signs a user up with a unique e-mail and logs in.
    pub async fn sign_up_user(&self, name: &str) -> User {
        let email = format!("{}@example.com", tag());
        let password = format!("pw-{}", tag());
        let created = self.post_user(name, &email, &password).await.expect(201);
        let id = created["id"]
            .as_str()
            .unwrap_or_else(|| panic!("user without id: {created}"))
            .to_owned();
        let login = self.login(&email, &password).await.expect(200);
        assert_eq!(
            login["user_id"],
            json!(id),
            "login answered another user id: {login}"
        );
        let token = login["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("login without access_token: {login}"))
            .to_owned();
        User {
            id,
            token,
            email,
            password,
        }
    }

    /// `POST /auth/token`.
    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post_json(
            "/auth/token",
            None,
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Posts a review (`comment` omitted when `None`).
    pub async fn review(
        &self,
        movie_id: &str,
        token: &str,
        score: i64,
        comment: Option<&str>,
    ) -> Resp {
        let body = match comment {
            Some(comment) => json!({ "score": score, "comment": comment }),
            None => json!({ "score": score }),
        };
        self.post_json(&format!("/movies/{movie_id}/reviews"), Some(token), &body)
            .await
    }

    /// The `movie_count` `GET /genres` shows for `genre`; `None` when it is not listed.
    pub async fn genre_count(&self, genre: &str) -> Option<Value> {
        self.get("/genres")
            .await
            .items()
            .iter()
            .find(|g| g["name"] == json!(genre))
            .map(|g| g["movie_count"].clone())
    }
}
