//! Drill 6: two `tiaki serve` processes on one PostgreSQL database, ciphertext in S3;
//! a scraper that alternates between them is contained at the same count as against one.

use super::kit::{
    self, Hook, account_of, add_documents, address, canaries, client_from, detector_of,
    patients_of, secs,
};
use super::scraper::{Scraper, Surface};
use super::{PAD_PER_PATIENT, assert_scrape_bounds, practices, report_scrape, staff};
use crate::e2e::server::{DemoLogin, Logins as _, ServerOptions, run_tiaki};
use std::collections::HashSet;
use std::net::IpAddr;

/// A patient walking foreign document ids through `bases` in turn: how many probes
/// were answered before the session was stopped.
async fn probes_until_contained(
    http: &reqwest::Client,
    bases: &[String],
    token: &str,
    foreign: &[String],
) -> u64 {
    let mut probes = 0;
    for (n, id) in foreign.iter().enumerate() {
        let base = &bases[n % bases.len()];
        let status = http
            .get(format!("{base}/api/v1/documents/{id}/content"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        match status {
            404 => probes += 1,
            401 | 403 => return probes,
            other => panic!("a probe answered {other}"),
        }
    }
    panic!("never contained after {probes} probes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drill_6_a_scraper_alternating_between_two_nodes_is_contained_at_the_same_count() {
    let url = tiaki_store::testing::fresh_postgres_url().await.unwrap();
    let s3 = tiaki_store::testing::S3Server::start().await.unwrap();
    let s3_config = s3.config();
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let node_a = dir.path().join("node-a");
    let node_b = dir.path().join("node-b");
    let config = dir.path().join("tiaki.toml");
    {
        use secrecy::ExposeSecret as _;
        std::fs::write(
            &config,
            format!(
                "database_url = \"{url}\"\nkeyring = \"{}\"\n\n[s3]\nendpoint = \"{}\"\n\
                 bucket = \"{}\"\nregion = \"{}\"\naccess_key_id = \"{}\"\n\
                 secret_access_key = \"{}\"\nallow_http = true\n\n[core.guard]\n\
                 webhook_url = \"{}\"\n",
                dir.path().join("keyring.json").display(),
                s3_config.endpoint.as_deref().unwrap(),
                s3_config.bucket,
                s3_config.region,
                s3_config.access_key_id,
                s3_config.secret_access_key.expose_secret(),
                hook.url,
            ),
        )
        .unwrap();
    }
    // Seeded once, through the CLI, then served by two processes.
    let seed_args: Vec<std::ffi::OsString> = vec![
        "demo".into(),
        "--config".into(),
        config.clone().into_os_string(),
        "--data-dir".into(),
        node_a.clone().into_os_string(),
    ];
    let ran = tokio::task::spawn_blocking(move || run_tiaki(seed_args))
        .await
        .unwrap();
    assert!(ran.status.success(), "{}\n{}", ran.stdout, ran.stderr);
    let a = ServerOptions::new(&node_a)
        .demo()
        .arg("--config")
        .arg(&config)
        .start();
    let b = ServerOptions::new(&node_b)
        .demo()
        .arg("--config")
        .arg(&config)
        .start();
    let logins = DemoLogin::read(&node_a);
    let practices = practices(&logins);
    let (one_practice, two_practice) = (&practices[0], &practices[1]);
    let decoys: HashSet<String> = canaries(&[
        "--config".into(),
        config.clone().into_os_string(),
        "--data-dir".into(),
        node_a.clone().into_os_string(),
    ])
    .await
    .into_iter()
    .filter(|c| c.kind == "patient")
    .map(|c| c.id)
    .collect();
    for practice in [one_practice, two_practice] {
        let uploader = kit::login(
            &a.base,
            &logins,
            &staff(&logins, practice, "nurse").username,
            address(1, 0, 6),
        )
        .await;
        add_documents(&uploader, &patients_of(&logins, practice), PAD_PER_PATIENT).await;
    }

    let scrape = |practice: &String, bases: Vec<String>, from: IpAddr| {
        let username = staff(&logins, practice, "clinician").username.clone();
        let logins = &logins;
        let decoys = decoys.clone();
        async move {
            let attacker = kit::login(&bases[0], logins, &username, from).await;
            let account = account_of(&attacker).await;
            let got = Scraper {
                http: client_from(from),
                bases,
                token: attacker.token.clone(),
                surface: Surface::Api,
                // Requests go to the nodes in turn, several in flight: two nodes
                // counting the same actor at once must both see the sum.
                concurrency: 4,
                skip: decoys,
                shuffle: None,
            }
            .run()
            .await;
            (got, account)
        }
    };
    let (one, one_account) = scrape(one_practice, vec![a.base.clone()], address(2, 0, 6)).await;
    let (two, two_account) = scrape(
        two_practice,
        vec![a.base.clone(), b.base.clone()],
        address(2, 0, 7),
    )
    .await;
    let alert = hook.containment_of(&one_account).await.is_some()
        && hook.containment_of(&two_account).await.is_some();

    // Patients walking foreign ids (documents of the third practice, which no scraper
    // touched): one node, then alternating.
    let third = &practices[2];
    let setup = kit::login(
        &a.base,
        &logins,
        &staff(&logins, third, "clinician").username,
        address(1, 1, 1),
    )
    .await;
    let mut foreign = Vec::new();
    for p in patients_of(&logins, third).iter().take(3) {
        foreign.extend(setup.documents(p).await.into_iter().map(|doc| doc.id));
    }
    let mut probes = Vec::new();
    for (n, (practice, bases)) in [
        (one_practice, vec![a.base.clone()]),
        (two_practice, vec![a.base.clone(), b.base.clone()]),
    ]
    .into_iter()
    .enumerate()
    {
        let patient = logins.patients_of(practice)[0].clone();
        let from = address(2, 1, u8::try_from(n).unwrap() + 1);
        let attacker = kit::login(&bases[0], &logins, &patient.username, from).await;
        probes.push(
            probes_until_contained(&client_from(from), &bases, &attacker.token, &foreign).await,
        );
    }

    let overview =
        kit::overview(&kit::login(&b.base, &logins, "operator", address(9, 9, 9)).await).await;
    report_scrape(
        "6",
        "two-nodes-scrape",
        &two,
        alert,
        detector_of(&overview, &two_account).as_deref(),
        |extra| {
            extra.push(("one_node_served", one.served.to_string()));
            extra.push((
                "one_node_contained_after_s",
                one.stopped_after.map_or_else(|| "-".into(), secs),
            ));
            extra.push(("patient_probes_one_node", probes[0].to_string()));
            extra.push(("patient_probes_two_nodes", probes[1].to_string()));
            extra.push(("backend", "postgresql+s3".into()));
        },
    );
    drop((a, b, s3));
    let _ = tiaki_store::testing::drop_postgres_database(&url).await;

    assert!(one.stopped_after.is_some() && two.stopped_after.is_some());
    assert_eq!(
        two.served, one.served,
        "two nodes let {} documents out, one node {}",
        two.served, one.served
    );
    assert_scrape_bounds(&two, alert);
    assert_eq!(probes[1], probes[0], "patient probes: two nodes vs one");
    assert!(probes[0] <= 3);
}
