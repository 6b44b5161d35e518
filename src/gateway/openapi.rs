//! The REST API's OpenAPI 3.1 document, served at `GET /api/openapi.json`. Built from the
//! handlers' `#[utoipa::path]` annotations and the request and response types, so it
//! changes with the code; a test calls every operation it lists and checks that the answer
//! is one it documents. The WebSockets are in `docs/agent-protocol.md`.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, api, auth, directory, reports, supervisor};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "kefu",
        description = "Call-center backend over FreeSWITCH: live queues, call records, \
                       reports, supervisor actions and administration. Log in with \
                       `POST /api/login` and send `Authorization: Bearer <token>`.",
    ),
    paths(
        api::healthz, api::readyz, api::metrics,
        auth::login, auth::logout, auth::me,
        api::staffing, api::snapshot, api::latency,
        api::calls, api::call,
        reports::queues, reports::agents, reports::my_day,
        supervisor::agent_state, supervisor::move_call, supervisor::set_priority,
        supervisor::audit, api::reload_flows,
        admin::list, admin::one, admin::create, admin::replace, admin::remove,
        directory::agents, directory::agent, directory::create_agent, directory::replace_agent,
        directory::remove_agent, directory::queues, directory::queue, directory::create_queue,
        directory::replace_queue, directory::remove_queue, directory::skills,
        directory::create_skill, directory::remove_skill,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "health", description = "Liveness, readiness, Prometheus metrics"),
        (name = "access", description = "Logins and tokens"),
        (name = "live", description = "Live queue figures (no customer data: open)"),
        (name = "records", description = "Call records and reports (supervisors)"),
        (name = "actions", description = "Supervisors' actions, audited"),
        (name = "admin", description = "Customers (admins write, supervisors read)"),
        (name = "directory", description = "Agents, queues and skills (admins write the ones they added; supervisors read)"),
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme the protected operations name.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every error's body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Only its shape is used: `ApiError` writes the JSON.
pub struct ErrorBody {
    /// `not_found`, `bad_request`, `refused`, `unauthorised`, `forbidden`,
    /// `too_many_attempts`, `unavailable`, `internal`.
    code: String,
    /// What went wrong, for a person.
    message: String,
}

/// `GET /api/openapi.json`.
#[allow(clippy::unused_async)]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
