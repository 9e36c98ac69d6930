//! Public forms in tests: their double-submit cookie and hidden fields.

/// The `name=value` of the form cookie a page set.
pub fn form_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-tiaki_form="))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no form cookie set"))
        .to_owned()
}

/// The value of the hidden input `name`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden {name} in:\n{html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}
