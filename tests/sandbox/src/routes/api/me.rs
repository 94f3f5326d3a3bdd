//! `GET /v1/me`: the current user's profile.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::SandboxError;
use crate::routes::api::etag::conditional_json;
use crate::routes::api::objects;
use crate::routes::api::request::bearer;
use crate::state::Sandbox;

/// PrivateUserObject of the token's user; fields behind scopes appear only when granted.
pub async fn me(
    req: HttpRequest,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    let token = bearer(&req)?;
    let now_s = sandbox.clock.now_s();
    let value = {
        let mut world = sandbox.world();
        let caller = world.api_user(token, &[], now_s)?;
        objects::private_user(&sandbox.base_url, caller.user, caller.scopes)
    };
    conditional_json(&req, &value)
}
