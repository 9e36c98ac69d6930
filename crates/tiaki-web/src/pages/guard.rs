//! The operator's guard page: live alerts (the page refreshes itself), containments
//! with release, one-click containment of an alert's account, and module kill
//! switches. The core decides (policy `ManageGuard`) and audits each change.

use super::{Nav, PageError, render};
use crate::AppState;
use crate::api::guard::{
    AlertBody, ContainmentBody, GuardBody, ModuleBody, parse_account, parse_state,
};
use crate::api::path_id;
use crate::auth::{Ctx, PageSession, same_origin};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tiaki_core::guard::{GuardOperator, Module};

#[derive(Template)]
#[template(path = "guard.html")]
struct GuardPage {
    nav: Option<Nav>,
    csrf: String,
    alerts: Vec<AlertBody>,
    active: Vec<ContainmentBody>,
    released: Vec<ContainmentBody>,
    modules: Vec<ModuleBody>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    Query(query): Query<Notice>,
) -> Result<Response, PageError> {
    let overview = state
        .core
        .guard_overview(GuardOperator::Operator(&session.actor), &ctx)
        .await?;
    let body = GuardBody::from(&overview);
    let (active, released) = body.containments.into_iter().partition(|c| c.active);
    let notice = match query.done.as_deref() {
        Some("contained") => Some("The account is contained: signed out everywhere and frozen."),
        Some("released") => Some("Released. The person can sign in again."),
        Some("module") => Some("The module's switch is set."),
        _ => None,
    };
    let nav = Some(Nav::of(&state, &session).await);
    Ok(render(
        StatusCode::OK,
        &GuardPage {
            nav,
            csrf: session.csrf.clone(),
            alerts: body.alerts,
            active,
            released,
            modules: body.modules,
            notice,
        },
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct ContainForm {
    csrf: String,
    account_id: String,
    reason: String,
}

pub async fn contain(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Form(form): Form<ContainForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let account = parse_account(&form.account_id)?;
    state
        .core
        .contain_account(
            GuardOperator::Operator(&session.actor),
            account,
            &form.reason,
            &ctx,
        )
        .await?;
    Ok(Redirect::to("/operator/guard?done=contained").into_response())
}

#[derive(Deserialize)]
pub struct ReasonForm {
    csrf: String,
    reason: String,
}

pub async fn release(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(containment_id): Path<String>,
    Form(form): Form<ReasonForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let id: uuid::Uuid = path_id(&containment_id)?;
    state
        .core
        .release_containment(
            GuardOperator::Operator(&session.actor),
            id,
            &form.reason,
            &ctx,
        )
        .await?;
    Ok(Redirect::to("/operator/guard?done=released").into_response())
}

#[derive(Deserialize)]
pub struct ModuleForm {
    csrf: String,
    state: String,
    reason: String,
}

pub async fn set_module(
    State(state): State<AppState>,
    session: PageSession,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(module): Path<String>,
    Form(form): Form<ModuleForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    session.check_csrf(&state, &form.csrf)?;
    let module = Module::parse(&module).ok_or_else(crate::error::Problem::not_found)?;
    let new_state = parse_state(&form.state)?;
    state
        .core
        .set_module_state(
            GuardOperator::Operator(&session.actor),
            module,
            new_state,
            &form.reason,
            &ctx,
        )
        .await?;
    Ok(Redirect::to("/operator/guard?done=module").into_response())
}
