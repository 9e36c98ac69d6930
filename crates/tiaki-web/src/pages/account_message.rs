//! A one-message page for the outcome of an account action ("check your email",
//! "your password is set"), and the error page for a spent or unknown link.

use super::render;
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

#[derive(Template)]
#[template(path = "account_message.html")]
struct MessagePage<'a> {
    nav: Option<super::Nav>,
    heading: &'a str,
    message: &'a str,
    link_href: Option<&'a str>,
    link_text: &'a str,
}

/// A page saying `message`, with an optional link on.
pub fn message_page(
    status: StatusCode,
    heading: &str,
    message: &str,
    link: Option<(&str, &str)>,
) -> Response {
    render(
        status,
        &MessagePage {
            nav: None,
            heading,
            message,
            link_href: link.map(|(href, _)| href),
            link_text: link.map_or("", |(_, text)| text),
        },
    )
}
