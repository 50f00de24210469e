//! What the pages' handlers share: the API they are made from, the key of their forms' CSRF
//! tokens, and who is calling.

use std::convert::Infallible;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::api::{Api, Caller};
use crate::session::CsrfKey;

/// The pages' state.
#[derive(Clone)]
pub struct Site {
    pub api: Api,
    pub csrf: CsrfKey,
}

impl FromRef<Site> for Api {
    fn from_ref(site: &Site) -> Self {
        site.api.clone()
    }
}

impl FromRef<Site> for CsrfKey {
    fn from_ref(site: &Site) -> Self {
        site.csrf.clone()
    }
}

/// A handler's means: the API, the CSRF key, and the caller its API requests go on behalf of.
pub struct Context {
    pub api: Api,
    pub key: CsrfKey,
    pub caller: Caller,
}

impl FromRequestParts<Site> for Context {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, site: &Site) -> Result<Self, Self::Rejection> {
        Ok(Context {
            api: site.api.clone(),
            key: site.csrf.clone(),
            caller: Caller::from_request_parts(parts, site).await?,
        })
    }
}
