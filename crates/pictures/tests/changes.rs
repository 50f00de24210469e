//! A picture's changes on a real SQLite store and real files: each committed with its event,
//! concurrent changes each replacing exactly one picture (so every replaced upload's files can
//! be removed and none is left named by nothing), a gone owner changing nothing, and the
//! files served only while their upload is current.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use domain::events::{Event, PhotoChanged};
use domain::picture::{PictureFile, PictureOwner, StoredPicture};
use objects_fs::FsObjectStore;
use pictures::{PictureRecord, Pictures};
use platform::outbox::{Outbox, Outboxes};
use store::{Key, Store, StoreExt};
use store_sqlite::SqliteStore;
use uuid::Uuid;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    outbox: Outbox,
    pictures: Pictures,
    owner: Uuid,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("store.sqlite3")).unwrap());
        let objects = FsObjectStore::open(dir.path().join("images"))
            .await
            .unwrap();
        let owner = Uuid::now_v7();
        store
            .write(store::Write::put(store::Item::new(
                owner_key(&owner),
                serde_json::Map::new(),
            )))
            .await
            .unwrap();
        Fixture {
            outbox: Outboxes::new(store.clone()).of("actors"),
            store,
            pictures: Pictures::new(Arc::new(objects)),
            owner,
            _dir: dir,
        }
    }

    async fn upload(&self) -> StoredPicture {
        let mut png = std::io::Cursor::new(Vec::new());
        image_bytes(&mut png);
        let processed = self
            .pictures
            .decode("image/png", Bytes::from(png.into_inner()))
            .await
            .unwrap();
        self.pictures
            .store(PictureOwner::Actor(self.owner), processed)
            .await
            .unwrap()
    }

    async fn change(&self, photo: Option<StoredPicture>) -> Option<Option<StoredPicture>> {
        let actor_id = self.owner;
        self.pictures
            .change(
                &self.outbox,
                owner_key(&self.owner),
                record_key(&self.owner),
                photo,
                |photo, replaced| {
                    Event::PhotoChanged(PhotoChanged {
                        actor_id,
                        photo,
                        replaced,
                        created_at: 0,
                    })
                },
            )
            .await
            .unwrap()
            .map(|changed| changed.replaced)
    }

    async fn current(&self) -> Option<StoredPicture> {
        self.store
            .get_record::<PictureRecord>(&record_key(&self.owner))
            .await
            .unwrap()
            .and_then(|record| record.picture)
    }

    async fn status(&self, picture: &StoredPicture, current: Option<&StoredPicture>) -> u16 {
        let name = picture
            .url(PictureOwner::Actor(self.owner), PictureFile::Image)
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        match self
            .pictures
            .serve(
                PictureOwner::Actor(self.owner),
                current,
                &picture.upload_id.to_string(),
                &name,
                &axum::http::HeaderMap::new(),
            )
            .await
        {
            Ok(response) => response.status().as_u16(),
            Err(pictures::PicturesError::NotFound) => 404,
            Err(other) => panic!("{other}"),
        }
    }
}

fn image_bytes(out: &mut std::io::Cursor<Vec<u8>>) {
    image::RgbImage::from_pixel(40, 60, image::Rgb([10, 20, 30]))
        .write_to(out, image::ImageFormat::Png)
        .unwrap();
}

fn owner_key(id: &Uuid) -> Key {
    Key::new(format!("actor#{id}"), "actor")
}

fn record_key(id: &Uuid) -> Key {
    Key::new(format!("actor#{id}"), "photo")
}

#[tokio::test]
async fn each_change_replaces_the_one_before_and_removing_nothing_commits_nothing() {
    let fixture = Fixture::new().await;
    assert_eq!(fixture.change(None).await, Some(None), "nothing to remove");
    assert_eq!(fixture.current().await, None);

    let first = fixture.upload().await;
    assert_eq!(fixture.change(Some(first)).await, Some(None));
    assert_eq!(fixture.current().await, Some(first));
    assert_eq!(fixture.status(&first, Some(&first)).await, 200);

    let second = fixture.upload().await;
    assert_eq!(fixture.change(Some(second)).await, Some(Some(first)));
    assert_eq!(fixture.current().await, Some(second));
    // The replaced upload is no longer served, whether or not its files are gone yet.
    assert_eq!(fixture.status(&first, Some(&second)).await, 404);
    fixture
        .pictures
        .remove(PictureOwner::Actor(fixture.owner), &first)
        .await
        .unwrap();
    // Removing twice is fine (a redelivered event).
    fixture
        .pictures
        .remove(PictureOwner::Actor(fixture.owner), &first)
        .await
        .unwrap();

    assert_eq!(fixture.change(None).await, Some(Some(second)));
    assert_eq!(fixture.current().await, None);
}

#[tokio::test]
async fn concurrent_changes_each_replace_exactly_one_picture() {
    let fixture = Fixture::new().await;
    let mut uploads = Vec::new();
    for _ in 0..4 {
        uploads.push(fixture.upload().await);
    }
    let replaced: Vec<Option<StoredPicture>> = futures::future::join_all(
        uploads
            .iter()
            .map(|upload| async { fixture.change(Some(*upload)).await.unwrap() }),
    )
    .await;
    let current = fixture.current().await.expect("one of them is current");
    // Every upload but the current one was replaced by exactly one change, and exactly one
    // change replaced nothing: no upload is left that nothing names and no event removes.
    let replaced_ids: Vec<Uuid> = replaced.iter().flatten().map(|p| p.upload_id).collect();
    let unique: BTreeSet<Uuid> = replaced_ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        replaced_ids.len(),
        "replaced twice: {replaced:?}"
    );
    assert_eq!(replaced.iter().filter(|r| r.is_none()).count(), 1);
    let all: BTreeSet<Uuid> = uploads.iter().map(|p| p.upload_id).collect();
    let mut accounted = unique;
    accounted.insert(current.upload_id);
    assert_eq!(accounted, all);
}

#[tokio::test]
async fn a_gone_owner_changes_nothing() {
    let fixture = Fixture::new().await;
    let upload = fixture.upload().await;
    fixture
        .store
        .write(store::Write::delete(owner_key(&fixture.owner)))
        .await
        .unwrap();
    assert_eq!(fixture.change(Some(upload)).await, None);
    assert!(
        fixture
            .store
            .get(&record_key(&fixture.owner))
            .await
            .unwrap()
            .is_none(),
        "no picture record was written"
    );
}
