//! Posters and photos (API.md, "Pictures"): uploads checked and re-encoded without
//! metadata, the thumbnail's size, files served with caching headers and 304, replacement and
//! deletion taking the old files away, the pictures shown on the movie, its cast, the actor
//! and every list, and hostile uploads refused.

use std::io::Cursor;
use std::time::Duration;

use image::{ImageFormat, RgbImage};
use reqwest::Method;
use serde_json::Value;

use crate::support::*;

/// How soon derived views must show a change: API.md's consistency bound.
const CONVERGES: Duration = Duration::from_secs(2);

/// A picture of `width`×`height` in `format`, with a pattern so it is not all one colour.
fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, format)
        .expect("encoding a test picture");
    bytes.into_inner()
}

/// A JPEG carrying an EXIF segment with a GPS tag and a camera comment.
fn jpeg_with_exif(width: u32, height: u32) -> Vec<u8> {
    let jpeg = picture(width, height, ImageFormat::Jpeg);
    // A big-endian TIFF block: one IFD entry, tag 0x8825 (GPS IFD pointer), and the text
    // "SECRET-GPS" that must not survive.
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x88\x25\x00\x04\x00\x00\x00\x01\x00\x00\x00\x1a\x00\x00\x00\x00".to_vec();
    tiff.extend_from_slice(b"SECRET-GPS");
    let mut segment = b"Exif\x00\x00".to_vec();
    segment.extend_from_slice(&tiff);
    let length = u16::try_from(segment.len() + 2).unwrap();
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A PNG of a few hundred bytes whose header claims `width`×`height` pixels.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = picture(8, 8, ImageFormat::Png);
    // IHDR's data starts after the signature (8), length (4) and type (4).
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// CRC-32 as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

impl TestApp {
    /// `PUT {path}` with a picture body.
    async fn upload(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        self.raw(
            Method::PUT,
            &format!("{API}{path}"),
            token,
            Some(content_type),
            Some(body),
        )
        .await
    }

    /// A file of a picture, by its URL (an absolute path on the server).
    async fn picture_file(&self, url: &str, if_none_match: Option<&str>) -> Resp {
        assert!(url.starts_with('/'), "a URL on this server: {url}");
        match if_none_match {
            Some(etag) => self.get_with_headers(url, &[("if-none-match", etag)]).await,
            None => self.root_get(url).await,
        }
    }
}

/// Asserts a file is served as a picture of `content_type` and `width`×`height`, with the
/// caching headers, and answers 304 to its ETag; returns its bytes.
async fn assert_served(
    app: &TestApp,
    url: &str,
    content_type: &str,
    width: u32,
    height: u32,
) -> Vec<u8> {
    let resp = app.picture_file(url, None).await;
    assert_eq!(resp.status, 200, "{url}: {}", resp.text);
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some(content_type),
        "{url}"
    );
    assert_eq!(
        resp.header("cache-control").as_deref(),
        Some("public, max-age=31536000, immutable"),
        "{url}"
    );
    let etag = resp.header("etag").expect("an ETag");
    let decoded = image::load_from_memory(&resp.bytes).expect("the file decodes");
    assert_eq!(
        (decoded.width(), decoded.height()),
        (width, height),
        "{url}"
    );
    let revalidated = app.picture_file(url, Some(&etag)).await;
    assert_eq!(revalidated.status, 304, "{url} with If-None-Match {etag}");
    assert!(revalidated.bytes.is_empty());
    let other = app.picture_file(url, Some("\"something-else\"")).await;
    assert_eq!(other.status, 200, "{url} with another ETag");
    resp.bytes
}

async fn assert_gone(app: &TestApp, url: &str) {
    app.picture_file(url, None).await.problem(404);
}

fn picture_of(uploaded: &Value) -> Value {
    serde_json::json!({
        "url": uploaded["url"], "thumbnail_url": uploaded["thumbnail_url"],
        "width": uploaded["width"], "height": uploaded["height"],
    })
}

#[tokio::test]
async fn a_poster_is_stored_without_metadata_served_cached_and_shown_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let movie = app
        .create_movie(&format!("Poster {}", tag()), 2001, &["drama"], &[])
        .await;
    let id = movie["id"].as_str().unwrap();
    assert_eq!(movie["poster"], Value::Null);

    let upload = jpeg_with_exif(1000, 1500);
    assert!(contains(&upload, b"SECRET-GPS"));
    let uploaded = app
        .upload(&format!("/movies/{id}/poster"), admin, "image/jpeg", upload)
        .await
        .expect(200);
    assert_eq!(uploaded["width"], 1000);
    assert_eq!(uploaded["height"], 1500);
    assert_eq!(uploaded["content_type"], "image/jpeg");
    // Read-your-writes on the movie itself.
    let shown = app.get_ok(&format!("/movies/{id}")).await;
    assert_eq!(shown["poster"], picture_of(&uploaded));

    let url = uploaded["url"].as_str().unwrap();
    let stored = assert_served(&app, url, "image/jpeg", 1000, 1500).await;
    assert!(!contains(&stored, b"Exif"), "the EXIF segment was dropped");
    assert!(!contains(&stored, b"SECRET-GPS"));
    // The thumbnail fits 342×513, keeps the 2:3 aspect and is made once.
    let thumbnail = uploaded["thumbnail_url"].as_str().unwrap();
    assert_ne!(thumbnail, url);
    assert_served(&app, thumbnail, "image/jpeg", 342, 513).await;
}

#[tokio::test]
async fn a_small_picture_is_never_upscaled_and_png_and_webp_stay_themselves() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let actor = app.create_actor(&format!("Small {}", tag())).await;
    let id = actor["id"].as_str().unwrap();
    let uploaded = app
        .upload(
            &format!("/actors/{id}/photo"),
            admin,
            "image/png",
            picture(120, 90, ImageFormat::Png),
        )
        .await
        .expect(200);
    assert_eq!(uploaded["content_type"], "image/png");
    assert_served(
        &app,
        uploaded["thumbnail_url"].as_str().unwrap(),
        "image/png",
        120,
        90,
    )
    .await;

    let wide = app
        .upload(
            &format!("/actors/{id}/photo"),
            admin,
            "image/webp",
            picture(1200, 300, ImageFormat::WebP),
        )
        .await
        .expect(200);
    assert_eq!(wide["width"], 1200);
    let content_type = wide["content_type"].as_str().unwrap().to_owned();
    assert!(content_type.starts_with("image/"), "{wide}");
    // 1200×300 fits 342 wide: 342×85.5, rounded.
    let thumb = app
        .picture_file(wide["thumbnail_url"].as_str().unwrap(), None)
        .await;
    let decoded = image::load_from_memory(&thumb.expect_bytes()).unwrap();
    assert_eq!(decoded.width(), 342);
    assert!(
        (85..=86).contains(&decoded.height()),
        "{}",
        decoded.height()
    );
    assert_eq!(
        app.get_ok(&format!("/actors/{id}")).await["photo"],
        picture_of(&wide)
    );
}

impl Resp {
    fn expect_bytes(&self) -> Vec<u8> {
        assert_eq!(self.status, 200, "{}: {}", self.request, self.text);
        self.bytes.clone()
    }
}

#[tokio::test]
async fn replacing_and_deleting_a_poster_takes_its_files_away() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let movie = app
        .create_movie(&format!("Replaced {}", tag()), 1999, &["drama"], &[])
        .await;
    let id = movie["id"].as_str().unwrap();
    let path = format!("/movies/{id}/poster");
    let first = app
        .upload(
            &path,
            admin,
            "image/png",
            picture(400, 600, ImageFormat::Png),
        )
        .await
        .expect(200);
    let second = app
        .upload(
            &path,
            admin,
            "image/jpeg",
            picture(500, 750, ImageFormat::Jpeg),
        )
        .await
        .expect(200);
    assert_ne!(first["url"], second["url"], "a new upload gets new URLs");
    assert_eq!(
        app.get_ok(&format!("/movies/{id}")).await["poster"],
        picture_of(&second)
    );
    for url in [&first["url"], &first["thumbnail_url"]] {
        assert_gone(&app, url.as_str().unwrap()).await;
    }
    assert_served(
        &app,
        second["url"].as_str().unwrap(),
        "image/jpeg",
        500,
        750,
    )
    .await;

    app.delete(&path, admin).await.expect(204);
    assert_eq!(
        app.get_ok(&format!("/movies/{id}")).await["poster"],
        Value::Null
    );
    for url in [&second["url"], &second["thumbnail_url"]] {
        assert_gone(&app, url.as_str().unwrap()).await;
    }
    // Deleting what is not there is still done.
    app.delete(&path, admin).await.expect(204);
    if app.owns_server() {
        for upload in [&first, &second] {
            let upload_id = upload["url"]
                .as_str()
                .unwrap()
                .split('/')
                .nth_back(1)
                .unwrap()
                .to_owned();
            eventually_within(
                CONVERGES,
                "the files are removed from storage",
                async || match files_naming(&app, &upload_id) {
                    found if found.is_empty() => Ok(()),
                    found => Err(format!("still stored: {found:?}")),
                },
            )
            .await;
        }
    }
}

/// The stored files whose names contain `text`, under the server's picture folder (or none
/// when pictures are kept in S3).
fn files_naming(app: &TestApp, text: &str) -> Vec<String> {
    fn walk(dir: &std::path::Path, text: &str, found: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, text, found);
            } else if path.to_string_lossy().contains(text) {
                found.push(path.display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(&app.data_dir().join("images"), text, &mut found);
    found
}

/// Deleting the owner at `owner_path` (`/movies/{id}`, `/actors/{id}`) takes its picture at
/// `owner_path` + `picture` with it: its URLs answer 404 at once, a new upload is 404, and the
/// files are removed within the consistency bound.
async fn a_deleted_owner_takes_its_picture_files_with_it(
    app: &TestApp,
    owner_path: &str,
    picture_name: &str,
) {
    let admin = app.admin();
    let picture_path = format!("{owner_path}/{picture_name}");
    let uploaded = app
        .upload(
            &picture_path,
            admin,
            "image/png",
            picture(300, 450, ImageFormat::Png),
        )
        .await
        .expect(200);
    let upload_id = uploaded["url"]
        .as_str()
        .unwrap()
        .split('/')
        .nth_back(1)
        .unwrap()
        .to_owned();
    if app.owns_server() {
        assert_eq!(
            files_naming(app, &upload_id).len(),
            2,
            "the picture and its thumbnail"
        );
    }
    app.delete(owner_path, admin).await.expect(204);
    for url in [&uploaded["url"], &uploaded["thumbnail_url"]] {
        assert_gone(app, url.as_str().unwrap()).await;
    }
    app.upload(
        &picture_path,
        admin,
        "image/png",
        picture(3, 3, ImageFormat::Png),
    )
    .await
    .problem(404);
    if app.owns_server() {
        eventually_within(
            CONVERGES,
            &format!("the files of {owner_path} are removed"),
            async || match files_naming(app, &upload_id) {
                found if found.is_empty() => Ok(()),
                found => Err(format!("still stored: {found:?}")),
            },
        )
        .await;
    }
}

#[tokio::test]
async fn a_deleted_movie_takes_its_poster_files_with_it() {
    let app = TestApp::spawn().await;
    let movie = app
        .create_movie(&format!("Gone {}", tag()), 1980, &["horror"], &[])
        .await;
    let id = movie["id"].as_str().unwrap();
    a_deleted_owner_takes_its_picture_files_with_it(&app, &format!("/movies/{id}"), "poster").await;
}

#[tokio::test]
async fn a_deleted_actor_takes_its_photo_files_with_it() {
    let app = TestApp::spawn().await;
    let actor = app.create_actor(&format!("Gone {}", tag())).await;
    let id = actor["id"].as_str().unwrap();
    a_deleted_owner_takes_its_picture_files_with_it(&app, &format!("/actors/{id}"), "photo").await;
}

#[tokio::test]
async fn posters_and_photos_follow_into_lists_filmographies_and_casts() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let name = format!("Cast {}", tag());
    let actor = app.create_actor(&name).await;
    let actor_id = actor["id"].as_str().unwrap().to_owned();
    let title = format!("Listed {}", tag());
    let movie = app
        .create_movie(&title, 2010, &["picturetest"], &[(&actor_id, "lead")])
        .await;
    let movie_id = movie["id"].as_str().unwrap().to_owned();
    let poster = app
        .upload(
            &format!("/movies/{movie_id}/poster"),
            admin,
            "image/png",
            picture(200, 300, ImageFormat::Png),
        )
        .await
        .expect(200);
    let photo = app
        .upload(
            &format!("/actors/{actor_id}/photo"),
            admin,
            "image/png",
            picture(300, 300, ImageFormat::Png),
        )
        .await
        .expect(200);
    let (poster, photo) = (picture_of(&poster), picture_of(&photo));

    eventually_within(
        CONVERGES,
        "the poster and photo in every view",
        async || {
            let summary_poster = |items: Vec<Value>, list: &str| {
                items
                    .into_iter()
                    .find(|item| item["id"] == movie_id.as_str())
                    .map(|item| item["poster"].clone())
                    .ok_or_else(|| format!("{list}: the movie is not listed"))
            };
            let checks = [
                (
                    "the movie list",
                    summary_poster(
                        app.get_ok("/movies?limit=100").await["items"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default(),
                        "movies",
                    )?,
                ),
                (
                    "the search",
                    summary_poster(
                        app.get_ok(&format!("/movies?search={}", enc(&title))).await["items"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default(),
                        "search",
                    )?,
                ),
                (
                    "the genre list",
                    summary_poster(
                        app.get_ok("/genres/picturetest/movies").await["items"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default(),
                        "genre",
                    )?,
                ),
            ];
            for (list, shown) in checks {
                if shown != poster {
                    return Err(format!("{list} shows {shown}"));
                }
            }
            let actor_page = app.get_ok(&format!("/actors/{actor_id}")).await;
            if actor_page["movies"][0]["poster"] != poster {
                return Err(format!("the filmography shows {}", actor_page["movies"][0]));
            }
            let movie_page = app.get_ok(&format!("/movies/{movie_id}")).await;
            if movie_page["actors"][0]["photo"] != photo {
                return Err(format!("the cast shows {}", movie_page["actors"][0]));
            }
            let listed = app.get_ok(&format!("/actors?search={}", enc(&name))).await;
            let entry = listed["items"]
                .as_array()
                .and_then(|items| items.first())
                .cloned()
                .unwrap_or_default();
            if entry["photo"] != photo {
                return Err(format!("the actor search shows {entry}"));
            }
            let all = app.all("/actors?limit=100").await;
            match all.iter().find(|item| item["id"] == actor_id.as_str()) {
                Some(item) if item["photo"] == photo => Ok(()),
                other => Err(format!("the actor list shows {other:?}")),
            }
        },
    )
    .await;

    // Deleted, the pictures leave the views too.
    app.delete(&format!("/actors/{actor_id}/photo"), admin)
        .await
        .expect(204);
    app.delete(&format!("/movies/{movie_id}/poster"), admin)
        .await
        .expect(204);
    eventually_within(CONVERGES, "no poster or photo in any view", async || {
        let actor_page = app.get_ok(&format!("/actors/{actor_id}")).await;
        let movie_page = app.get_ok(&format!("/movies/{movie_id}")).await;
        let listed = app.get_ok("/genres/picturetest/movies").await;
        let summary = listed["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["id"] == movie_id.as_str()).cloned())
            .unwrap_or_default();
        if actor_page["photo"].is_null()
            && actor_page["movies"][0]["poster"].is_null()
            && movie_page["actors"][0]["photo"].is_null()
            && summary["poster"].is_null()
        {
            Ok(())
        } else {
            Err(format!(
                "still shown: actor {actor_page}, movie {movie_page}, summary {summary}"
            ))
        }
    })
    .await;
}

#[tokio::test]
async fn uploads_are_refused_by_the_rules_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let movie = app
        .create_movie(&format!("Refused {}", tag()), 2020, &["drama"], &[])
        .await;
    let id = movie["id"].as_str().unwrap();
    let path = format!("/movies/{id}/poster");
    let png = picture(50, 50, ImageFormat::Png);
    let (_, user_token) = app.sign_up(&format!("Viewer {}", tag())).await;

    let whole = picture(300, 300, ImageFormat::Png);
    let unknown_movie = format!("/movies/{}/poster", uuid::Uuid::now_v7());
    let unknown_actor = format!("/actors/{}/photo", uuid::Uuid::now_v7());
    let refusals = [
        (
            "no token",
            path.as_str(),
            None,
            "image/png",
            png.clone(),
            401,
        ),
        (
            "a user's token",
            path.as_str(),
            Some(user_token.as_str()),
            "image/png",
            png.clone(),
            403,
        ),
        (
            "an unknown movie",
            unknown_movie.as_str(),
            admin,
            "image/png",
            png.clone(),
            404,
        ),
        (
            "an unknown actor",
            unknown_actor.as_str(),
            admin,
            "image/png",
            png.clone(),
            404,
        ),
        // The body is judged before the movie is looked up (docs/api.md's order of checks).
        (
            "a bad body for an unknown movie",
            unknown_movie.as_str(),
            admin,
            "image/png",
            b"not a picture".to_vec(),
            422,
        ),
        ("a GIF", path.as_str(), admin, "image/gif", png.clone(), 415),
        (
            "JSON",
            path.as_str(),
            admin,
            "application/json",
            b"{}".to_vec(),
            415,
        ),
        (
            "a PNG declared as JPEG",
            path.as_str(),
            admin,
            "image/jpeg",
            png.clone(),
            422,
        ),
        (
            "no picture at all",
            path.as_str(),
            admin,
            "image/png",
            b"not a picture".to_vec(),
            422,
        ),
        (
            "a PNG cut short",
            path.as_str(),
            admin,
            "image/png",
            whole[..whole.len() / 2].to_vec(),
            422,
        ),
    ];
    for (what, path, token, content_type, body, status) in refusals {
        let resp = app.upload(path, token, content_type, body).await;
        assert_eq!(resp.status, status, "{what}: {}", resp.text);
        resp.problem(status);
    }
    // Over 8000 px on a side, and a decompression bomb: a tiny file claiming 100,000² px.
    app.upload(
        &path,
        admin,
        "image/png",
        picture(8001, 1, ImageFormat::Png),
    )
    .await
    .problem(422);
    let bomb = app
        .upload(&path, admin, "image/png", png_claiming(100_000, 100_000))
        .await;
    bomb.problem(422);
    assert_eq!(bomb.invalid_fields(), ["body"]);
    let message = bomb.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("8000"), "{message}");
    // Over 10 MiB.
    let huge = vec![0u8; 11 * 1024 * 1024];
    app.send_oversized(Method::PUT, &path, admin, "image/png", huge)
        .await
        .problem(413);

    assert_eq!(
        app.get_ok(&format!("/movies/{id}")).await["poster"],
        Value::Null
    );
    // A file of no upload, or a name the upload does not have, is not found.
    let uploaded = app.upload(&path, admin, "image/png", png).await.expect(200);
    let url = uploaded["url"].as_str().unwrap();
    assert_gone(&app, &url.replace("image.png", "image.jpg")).await;
    assert_gone(&app, &url.replace("image.png", "other.png")).await;
    assert_gone(
        &app,
        &format!(
            "/api/v1/movies/{id}/poster/{}/image.png",
            uuid::Uuid::now_v7()
        ),
    )
    .await;
    assert_gone(
        &app,
        &format!("/api/v1/movies/{id}/poster/not-an-id/image.png"),
    )
    .await;
}

#[tokio::test]
async fn on_s3_a_replaced_posters_files_are_removed_and_the_current_ones_kept() {
    own_server_only!("it reads the server's bucket");
    let Ok(endpoint) = std::env::var("MOVIEBOOK_TEST_S3_ENDPOINT") else {
        eprintln!(
            "SKIPPED: MOVIEBOOK_TEST_S3_ENDPOINT is not set (scripts/s3-local start prints the \
             endpoint; scripts/test sets it)"
        );
        return;
    };
    let bucket = format!("moviebook-test-pictures-{}", uuid::Uuid::now_v7());
    let app = TestApp::spawn_with(&[
        ("MOVIEBOOK_IMAGE_STORE", "s3"),
        ("MOVIEBOOK_S3_ENDPOINT", &endpoint),
        ("MOVIEBOOK_S3_BUCKET", &bucket),
    ])
    .await;
    let admin = app.admin();
    let movie = app
        .create_movie(&format!("On S3 {}", tag()), 2015, &["drama"], &[])
        .await;
    let id = movie["id"].as_str().unwrap().to_owned();
    let path = format!("/movies/{id}/poster");
    let first = app
        .upload(&path, admin, "image/png", picture(60, 90, ImageFormat::Png))
        .await
        .expect(200);
    let second = app
        .upload(&path, admin, "image/png", picture(90, 60, ImageFormat::Png))
        .await
        .expect(200);
    assert_served(&app, second["url"].as_str().unwrap(), "image/png", 90, 60).await;

    let mut s3 = objects_s3::S3Config::new(bucket);
    s3.aws.endpoint = Some(endpoint);
    let bucket = objects_s3::S3ObjectStore::connect(s3)
        .await
        .expect("the server's bucket");
    let key = |uploaded: &Value, file: &str| {
        let upload = uploaded["url"]
            .as_str()
            .unwrap()
            .split('/')
            .nth_back(1)
            .unwrap();
        objects::ObjectKey::new(format!("movies/{id}/{upload}/{file}.png")).unwrap()
    };
    use objects::ObjectStore;
    eventually_within(
        CONVERGES,
        "the replaced poster's objects deleted",
        async || {
            for file in ["image", "thumb"] {
                if bucket
                    .get(&key(&first, file))
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some()
                {
                    return Err(format!("{file} of the replaced poster is still stored"));
                }
            }
            Ok(())
        },
    )
    .await;
    for file in ["image", "thumb"] {
        let object = bucket.get(&key(&second, file)).await.unwrap();
        assert_eq!(object.map(|o| o.content_type).as_deref(), Some("image/png"));
    }
}
