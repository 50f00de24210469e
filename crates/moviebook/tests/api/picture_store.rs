//! The object store pictures are kept in (`MOVIEBOOK_IMAGE_STORE`): a process that serves
//! pictures opens it at start and its `/readyz` answers for it, on files and on S3.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::support::*;

/// How long `/readyz` may take to notice the picture store is gone: a ping fails at once on a
/// refused connection or a missing folder; this leaves room for a slow machine.
const NOTICE: Duration = Duration::from_secs(10);

/// Asserts `/readyz` is 503 problem+json naming the picture store as down.
async fn not_ready_for_pictures(app: &TestApp) {
    eventually_within(
        NOTICE,
        "/readyz answers 503 naming the pictures",
        async || {
            let resp = app.root_get("/readyz").await;
            if resp.status != 503 {
                return Err(format!("status {}: {}", resp.status, resp.text));
            }
            let problem = resp.problem(503);
            let detail = problem["detail"].as_str().unwrap_or_default();
            if detail.contains("images down") && detail.contains("store up") {
                Ok(())
            } else {
                Err(format!("detail {detail:?}"))
            }
        },
    )
    .await;
}

async fn ready_with_pictures(app: &TestApp) {
    let body = app.root_get("/readyz").await.expect(200);
    assert_eq!(body["images"], "up", "{body}");
}

#[tokio::test]
async fn readyz_answers_for_the_picture_folder() {
    own_server_only!("it takes the server's picture folder away");
    let app = TestApp::spawn().await;
    ready_with_pictures(&app).await;
    let images = app.data_dir().join("images");
    assert!(images.is_dir(), "start made {}", images.display());

    std::fs::remove_dir_all(&images).expect("removing the picture folder");
    std::fs::write(&images, b"not a folder").expect("a file in its place");
    not_ready_for_pictures(&app).await;

    std::fs::remove_file(&images).expect("removing the file");
    std::fs::create_dir(&images).expect("the folder again");
    ready_with_pictures(&app).await;
}

/// Forwards connections to a server until cut, then refuses them: S3 going away under a
/// running process.
struct Cable {
    address: String,
    tasks: JoinSet<()>,
}

impl Cable {
    async fn to(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("its address").to_string();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Cable { address, tasks }
    }

    /// Stops listening and drops every connection.
    async fn cut(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

#[tokio::test]
async fn readyz_answers_for_the_s3_bucket() {
    own_server_only!("it takes the server's S3 away");
    let Ok(endpoint) = std::env::var("MOVIEBOOK_TEST_S3_ENDPOINT") else {
        eprintln!(
            "SKIPPED: MOVIEBOOK_TEST_S3_ENDPOINT is not set (scripts/s3-local start prints the \
             endpoint; scripts/test sets it), so there is no S3 to keep pictures in"
        );
        return;
    };
    let target = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let cable = Cable::to(target).await;
    let bucket = format!("moviebook-test-readyz-{}", uuid::Uuid::now_v7());
    let app = TestApp::spawn_with(&[
        ("MOVIEBOOK_IMAGE_STORE", "s3"),
        (
            "MOVIEBOOK_S3_ENDPOINT",
            &format!("http://{}", cable.address),
        ),
        ("MOVIEBOOK_S3_BUCKET", &bucket),
    ])
    .await;
    // The start created the bucket.
    ready_with_pictures(&app).await;
    cable.cut().await;
    not_ready_for_pictures(&app).await;
}
