//! Who is calling the REST API, as extractors, so a handler's signature says who may call it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::auth::endpoint::basic_credentials;
use crate::auth::Principal;
use crate::server::AppState;

/// The caller, anonymous when no credentials were sent. Wrong credentials are refused.
pub struct MaybeUser(pub Principal);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match basic_credentials(&parts.headers) {
            None => Ok(MaybeUser(Principal::Anonymous)),
            Some((user, pass)) => Ok(MaybeUser(state.auth.authenticate(&user, &pass).await?)),
        }
    }
}

/// A signed-in user; anonymous callers get 401.
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match MaybeUser::from_request_parts(parts, state).await?.0 {
            Principal::Anonymous => Err(ApiError::Unauthorized("authentication required".into())),
            user => Ok(AuthUser(user)),
        }
    }
}
