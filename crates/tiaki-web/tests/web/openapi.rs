//! The OpenAPI document describes exactly the API routes the router serves.

use super::harness::World;
use std::collections::BTreeSet;
use tiaki_web::routes::{ROUTES, Surface};

#[tokio::test]
async fn openapi_lists_exactly_the_api_routes() {
    let world = World::start().await;
    let response = world.get("/api/v1/openapi.json").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let spec: serde_json::Value = response.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|r| {
            r.surface == Surface::Api || r.path.starts_with("/api/") || r.path.ends_with("z")
        })
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, served, "openapi.json and routes.rs disagree");
    // Every path parameter is declared.
    for (_, ops) in spec["paths"].as_object().unwrap() {
        for (_, op) in ops.as_object().unwrap() {
            assert!(op["responses"].is_object());
        }
    }
}
