//! The OCI Distribution API over raw HTTP: what real clients cannot be made to do on purpose,
//! such as resuming a chunked upload, and every kind of bad input.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{error_code, http, random_bytes, sha256, Berthd, ADMIN_PASSWORD};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[test]
fn base_endpoint_challenges_then_accepts_a_token() {
    let berthd = Berthd::start();
    let r = http()
        .get(format!("{}/v2/", berthd.url()))
        .send()
        .expect("GET /v2/");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("header")
        .to_string();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer realm="{}/service/token",service="harbor-registry""#,
            berthd.url()
        )
    );
    let resource = http()
        .get(format!("{}/v2/library/x/tags/list", berthd.url()))
        .send()
        .expect("GET");
    assert!(resource.headers()["www-authenticate"]
        .to_str()
        .expect("h")
        .contains(r#"scope="repository:library/x:pull""#));

    let t = http()
        .get(format!(
            "{}/service/token?service=harbor-registry",
            berthd.url()
        ))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .expect("token");
    let body: Value = t.json().expect("json");
    for field in ["token", "access_token", "expires_in", "issued_at"] {
        assert!(!body[field].is_null(), "missing {field}: {body}");
    }
    assert_eq!(body["expires_in"], 1800);
    let ok = http()
        .get(format!("{}/v2/", berthd.url()))
        .bearer_auth(body["token"].as_str().expect("t"))
        .send()
        .expect("GET");
    assert_eq!(ok.status(), 200);

    // Anonymous with no scope is a failed login, as in Harbor; a wrong service is a 400.
    let anon = http()
        .get(format!(
            "{}/service/token?service=harbor-registry",
            berthd.url()
        ))
        .send()
        .expect("token");
    assert_eq!(anon.status(), 401);
    let wrong = http()
        .get(format!(
            "{}/service/token?service=other&scope=repository:library/x:pull",
            berthd.url()
        ))
        .send()
        .expect("token");
    assert_eq!(wrong.status(), 400);
}

#[test]
fn token_access_is_the_requested_actions_intersected_with_permissions() {
    let berthd = Berthd::start();
    berthd.create_project("secret", false);
    let claims = |token: &str| -> Value {
        use base64::Engine;
        let payload = token.split('.').nth(1).expect("payload");
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("b64"),
        )
        .expect("claims")
    };
    let anon = berthd.token(
        None,
        &["repository:library/a:pull,push", "repository:secret/a:pull"],
    );
    let c = claims(&anon);
    assert_eq!(c["access"][0]["actions"], json!(["pull"]), "{c}");
    assert_eq!(c["access"][1]["actions"], json!([]), "{c}");
    let admin = berthd.token(
        Some(("admin", ADMIN_PASSWORD)),
        &["repository:secret/a:pull,push"],
    );
    assert_eq!(
        claims(&admin)["access"][0]["actions"],
        json!(["pull", "push"])
    );
    assert_eq!(claims(&admin)["aud"], "harbor-registry");
    // The unknown project grants nothing, even to the admin.
    let none = berthd.token(Some(("admin", ADMIN_PASSWORD)), &["repository:nope/a:pull"]);
    assert_eq!(claims(&none)["access"][0]["actions"], json!([]));
}

#[test]
fn chunked_upload_resumes_after_reading_its_status() {
    let berthd = Berthd::start();
    let reg = berthd.registry(&["library/chunks"]);
    let data = random_bytes(300_000);
    let (a, b) = data.split_at(100_000);
    let start = reg
        .req(Method::POST, "/v2/library/chunks/blobs/uploads/")
        .send()
        .expect("POST");
    assert_eq!(start.status(), 202);
    let location = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(start.headers().contains_key("docker-upload-uuid"));

    let r = reg
        .req(Method::PATCH, &location)
        .header("content-range", format!("0-{}", a.len() - 1))
        .header("content-type", "application/octet-stream")
        .body(a.to_vec())
        .send()
        .expect("PATCH");
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();

    // The client lost track: it asks where the upload stands.
    let status = reg.get(&location);
    assert_eq!(status.status(), 204);
    let range = status.headers()["range"]
        .to_str()
        .expect("range")
        .to_string();
    assert_eq!(range, format!("0-{}", a.len() - 1));
    let offset: usize = range
        .trim_start_matches("0-")
        .parse::<usize>()
        .expect("end")
        + 1;

    // A chunk that does not continue from there is refused and changes nothing.
    let bad = reg
        .req(Method::PATCH, &location)
        .header("content-range", format!("{}-{}", offset + 10, offset + 19))
        .body(vec![0u8; 10])
        .send()
        .expect("PATCH");
    assert_eq!(bad.status(), 416);
    assert_eq!(reg.get(&location).headers()["range"], range.as_str());

    let (b1, b2) = b.split_at(50_000);
    let r = reg
        .req(Method::PATCH, &location)
        .header(
            "content-range",
            format!("{offset}-{}", offset + b1.len() - 1),
        )
        .body(b1.to_vec())
        .send()
        .expect("PATCH");
    assert_eq!(r.status(), 202);
    let digest = sha256(&data);
    let sep = if location.contains('?') { '&' } else { '?' };
    let done = reg
        .req(Method::PUT, &format!("{location}{sep}digest={digest}"))
        .body(b2.to_vec())
        .send()
        .expect("PUT");
    assert_eq!(done.status(), 201, "{:?}", done.text());
    let back = reg.get(&format!("/v2/library/chunks/blobs/{digest}"));
    assert_eq!(back.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(back.bytes().expect("body").as_ref(), data.as_slice());
    // The finished session is gone.
    assert_eq!(error_code(reg.get(&location)), "BLOB_UPLOAD_UNKNOWN");
}

#[test]
fn upload_cancel_range_reads_blob_delete_and_sha512() {
    let berthd = Berthd::start();
    let reg = berthd.registry(&["library/misc"]);
    let start = reg
        .req(Method::POST, "/v2/library/misc/blobs/uploads/")
        .send()
        .expect("POST");
    let location = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert_eq!(
        reg.req(Method::DELETE, &location)
            .send()
            .expect("DELETE")
            .status(),
        204
    );
    assert_eq!(reg.get(&location).status(), 404);

    let data = random_bytes(1000);
    let digest = reg.push_blob("library/misc", &data);
    let part = reg
        .req(Method::GET, &format!("/v2/library/misc/blobs/{digest}"))
        .header("range", "bytes=10-19")
        .send()
        .expect("GET");
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(part.bytes().expect("body").as_ref(), &data[10..20]);
    let bad = reg
        .req(Method::GET, &format!("/v2/library/misc/blobs/{digest}"))
        .header("range", "bytes=5000-")
        .send()
        .expect("GET");
    assert_eq!(bad.status(), 416);
    let head = reg
        .req(Method::HEAD, &format!("/v2/library/misc/blobs/{digest}"))
        .send()
        .expect("HEAD");
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "1000");

    assert_eq!(
        reg.req(Method::DELETE, &format!("/v2/library/misc/blobs/{digest}"))
            .send()
            .expect("DEL")
            .status(),
        202
    );
    assert_eq!(
        error_code(reg.get(&format!("/v2/library/misc/blobs/{digest}"))),
        "BLOB_UNKNOWN"
    );

    // sha512, monolithic and chunked (the chunked one is re-hashed at the end).
    use sha2::Digest as _;
    let d512 = format!("sha512:{}", hex::encode(sha2::Sha512::digest(&data)));
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/library/misc/blobs/uploads/?digest={d512}"),
        )
        .body(data.clone())
        .send()
        .expect("POST");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let start = reg
        .req(Method::POST, "/v2/library/misc/blobs/uploads/")
        .send()
        .expect("POST");
    let location = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let r = reg
        .req(Method::PUT, &format!("{location}?digest={d512}"))
        .body(data.clone())
        .send()
        .expect("PUT");
    assert_eq!(r.status(), 201, "{:?}", r.text());
    assert_eq!(
        reg.get(&format!("/v2/library/misc/blobs/{d512}"))
            .bytes()
            .expect("body")
            .as_ref(),
        data.as_slice()
    );
}

#[test]
fn blobs_are_isolated_between_repositories_and_mounts_need_pull() {
    let berthd = Berthd::start();
    berthd.create_project("private", false);
    let reg = berthd.registry(&["private/a", "library/b"]);
    let digest = reg.push_blob("private/a", b"isolated content");
    // Stored once on disk, but not served from a repository it is not linked to.
    assert_eq!(
        error_code(reg.get(&format!("/v2/library/b/blobs/{digest}"))),
        "BLOB_UNKNOWN"
    );

    // An anonymous caller may push nowhere; give it a token for library/b only and try to
    // mount from private/a: the mount falls back to an ordinary upload (202), links nothing.
    let anon = berthd.token(
        None,
        &[
            "repository:library/b:pull,push",
            "repository:private/a:pull",
        ],
    );
    let admin_token = berthd.token(
        Some(("admin", ADMIN_PASSWORD)),
        &[
            "repository:library/b:pull,push",
            "repository:private/a:pull",
        ],
    );
    let url = format!(
        "{}/v2/library/b/blobs/uploads/?mount={digest}&from=private/a",
        berthd.url()
    );
    let r = http().post(&url).bearer_auth(&anon).send().expect("mount");
    assert_eq!(r.status(), 401, "anonymous push to library must be refused");
    let r = http()
        .post(&url)
        .bearer_auth(&admin_token)
        .send()
        .expect("mount");
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.headers()["location"].to_str().expect("l"),
        format!("/v2/library/b/blobs/{digest}")
    );
    assert_eq!(
        reg.get(&format!("/v2/library/b/blobs/{digest}")).status(),
        200
    );

    // A token for library/b that does not cover private/a cannot mount from it.
    let only_b = berthd.token(
        Some(("admin", ADMIN_PASSWORD)),
        &["repository:library/c:pull,push"],
    );
    let url = format!(
        "{}/v2/library/c/blobs/uploads/?mount={digest}&from=private/a",
        berthd.url()
    );
    let r = http()
        .post(&url)
        .bearer_auth(&only_b)
        .send()
        .expect("mount");
    assert_eq!(
        r.status(),
        202,
        "a mount the caller may not make must fall back to an upload"
    );
}

#[test]
fn bad_input_gets_oci_errors_and_changes_nothing() {
    let berthd = Berthd::start();
    let reg = berthd.registry(&["library/bad"]);

    // Digest mismatch: DIGEST_INVALID, nothing stored, no upload file left behind.
    let data = b"some bytes".to_vec();
    let wrong = sha256(b"other bytes");
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/library/bad/blobs/uploads/?digest={wrong}"),
        )
        .body(data.clone())
        .send()
        .expect("POST");
    assert_eq!(error_code(r), "DIGEST_INVALID");
    assert_eq!(
        reg.req(Method::HEAD, &format!("/v2/library/bad/blobs/{wrong}"))
            .send()
            .expect("HEAD")
            .status(),
        404
    );
    assert_eq!(
        reg.req(
            Method::HEAD,
            &format!("/v2/library/bad/blobs/{}", sha256(&data))
        )
        .send()
        .expect("HEAD")
        .status(),
        404
    );
    let blob_files = |dir: &std::path::Path| walk(dir).len();
    assert_eq!(
        blob_files(&berthd.data().join("blobs")),
        0,
        "a blob file was stored"
    );
    assert_eq!(
        blob_files(&berthd.data().join("uploads")),
        0,
        "an upload file was left"
    );
    let r = reg
        .req(
            Method::POST,
            "/v2/library/bad/blobs/uploads/?digest=sha256:xyz",
        )
        .body(data.clone())
        .send()
        .expect("POST");
    assert_eq!(error_code(r), "DIGEST_INVALID");

    // A manifest naming a blob the repository does not have.
    let missing = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"nope"), "size": 4},
        "layers": []});
    let r = reg.put_manifest(
        "library/bad",
        "v1",
        OCI_MANIFEST,
        missing.to_string().as_bytes(),
    );
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r), "MANIFEST_BLOB_UNKNOWN");

    // Malformed JSON, and a manifest over 4 MiB.
    let r = reg.put_manifest("library/bad", "v1", OCI_MANIFEST, b"{\"schemaVersion\": 2,");
    assert_eq!(error_code(r), "MANIFEST_INVALID");
    let huge = format!(
        r#"{{"schemaVersion":2,"annotations":{{"x":"{}"}}}}"#,
        "a".repeat(4 * 1024 * 1024 + 10)
    );
    let r = reg.put_manifest("library/bad", "v1", OCI_MANIFEST, huge.as_bytes());
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(r), "SIZE_INVALID");
    // A digest reference that does not match the body.
    let (body, _) = reg.push_image("library/bad", "ok", b"layer");
    let r = reg.put_manifest("library/bad", &sha256(b"x"), OCI_MANIFEST, &body);
    assert_eq!(error_code(r), "DIGEST_INVALID");
    // An unsupported media type and a schema 1 manifest.
    let r = reg.put_manifest(
        "library/bad",
        "v2",
        "application/x-made-up",
        br#"{"schemaVersion": 2}"#,
    );
    assert_eq!(error_code(r), "UNSUPPORTED");
    let r = reg.put_manifest(
        "library/bad",
        "v2",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        br#"{"schemaVersion": 1}"#,
    );
    assert_eq!(error_code(r), "UNSUPPORTED");
    // Nothing of the refused pushes is visible.
    let tags: Value = reg.get("/v2/library/bad/tags/list").json().expect("tags");
    assert_eq!(tags["tags"], json!(["ok"]));

    // Names: `..`, upper case, empty components.
    for name in [
        "library/../etc",
        "library/UPPER",
        "library//x",
        "library/x/",
        "Library/x",
        "library/a..b",
    ] {
        let r = reg.get(&format!("/v2/{name}/tags/list"));
        assert_eq!(r.status(), 400, "{name}");
        assert_eq!(error_code(r), "NAME_INVALID", "{name}");
    }
    // A project that does not exist.
    let reg2 = berthd.registry(&["noproject/x"]);
    let r = reg2
        .req(Method::POST, "/v2/noproject/x/blobs/uploads/")
        .send()
        .expect("POST");
    assert_eq!(
        r.status(),
        403,
        "no access can be granted for an unknown project"
    );
    assert_eq!(error_code(r), "DENIED");
    let r = reg
        .req(Method::GET, "/v2/library/bad/manifests/nosuchtag")
        .send()
        .expect("GET");
    assert_eq!(error_code(r), "MANIFEST_UNKNOWN");
    let r = reg
        .req(
            Method::GET,
            "/v2/library/bad/blobs/uploads/00000000-0000-0000-0000-000000000000",
        )
        .send()
        .expect("GET");
    assert_eq!(error_code(r), "BLOB_UPLOAD_UNKNOWN");
    let r = reg
        .req(Method::GET, "/v2/library/bad/tags/list?n=abc")
        .send()
        .expect("GET");
    assert_eq!(r.status(), 400);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn forged_expired_and_foreign_tokens_are_refused() {
    use base64::Engine;
    let berthd = Berthd::start();
    let reg = berthd.registry(&["library/tok"]);
    reg.push_image("library/tok", "v1", b"layer");
    let url = format!("{}/v2/library/tok/manifests/v1", berthd.url());
    let get = |token: &str| {
        http()
            .get(&url)
            .bearer_auth(token)
            .send()
            .expect("GET")
            .status()
    };
    assert_eq!(get(&reg.token), 200);

    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = reg.token.split('.').collect();
    // Wrong signature: the payload changed under the same signature.
    let mut claims: Value =
        serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("claims");
    claims["sub"] = json!("someone-else");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(get(&tampered), 401, "tampered token");
    // alg: none.
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    assert_eq!(get(&none), 401, "alg none");
    // Signed with the right key, but expired.
    let pem = std::fs::read(berthd.data().join("secret/token.pem")).expect("key");
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&pem).expect("key");
    let mut expired: Value =
        serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("claims");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    expired["exp"] = json!(now - 600);
    expired["iat"] = json!(now - 4000);
    expired["nbf"] = json!(now - 4000);
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &expired,
        &key,
    )
    .expect("sign");
    assert_eq!(get(&t), 401, "expired token");
    // Expired only 30 s ago: refused too (no leeway; Harbor allows 60 s).
    expired["exp"] = json!(now - 30);
    let t = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &expired,
        &key,
    )
    .expect("sign");
    assert_eq!(get(&t), 401, "a token expired 30 s ago");
    // Signed by another key entirely (a token from some other Berth).
    let other = Berthd::start();
    let foreign = other.token(
        Some(("admin", ADMIN_PASSWORD)),
        &["repository:library/tok:pull"],
    );
    assert_eq!(get(&foreign), 401, "foreign token");
    // Valid, but for another repository: challenged for the right scope.
    let elsewhere = berthd.token(
        Some(("admin", ADMIN_PASSWORD)),
        &["repository:library/other:pull"],
    );
    let r = http()
        .get(&url)
        .bearer_auth(&elsewhere)
        .send()
        .expect("GET");
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .expect("h")
        .contains("repository:library/tok:pull"));
    // A pull-only token cannot push.
    let pull_only = berthd.token(
        Some(("admin", ADMIN_PASSWORD)),
        &["repository:library/tok:pull"],
    );
    let r = http()
        .post(format!("{}/v2/library/tok/blobs/uploads/", berthd.url()))
        .bearer_auth(&pull_only)
        .send()
        .expect("POST");
    assert_eq!(r.status(), 401);
}

#[test]
fn artifacts_subject_and_referrers() {
    let berthd = Berthd::start();
    let reg = berthd.registry(&["library/art"]);
    let (image, image_digest) = reg.push_image("library/art", "v1", b"image layer");
    let empty = reg.push_blob("library/art", b"{}");
    let sig_layer = reg.push_blob("library/art", b"signature");
    let artifact = |artifact_type: &str, note: &str| {
        json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": sig_layer, "size": 9}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": image_digest, "size": image.len()},
            "annotations": {"note": note},
        })
        .to_string()
    };
    let sig = artifact("application/vnd.example.sig", "a");
    let sbom = artifact("application/vnd.example.sbom", "b");
    for body in [&sig, &sbom] {
        let r = reg.put_manifest(
            "library/art",
            &sha256(body.as_bytes()),
            OCI_MANIFEST,
            body.as_bytes(),
        );
        assert_eq!(r.status(), 201, "{:?}", r.text());
        assert_eq!(r.headers()["oci-subject"], image_digest.as_str());
    }
    let all = reg.get(&format!("/v2/library/art/referrers/{image_digest}"));
    assert_eq!(
        all.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    let all: Value = all.json().expect("index");
    assert_eq!(all["manifests"].as_array().map(Vec::len), Some(2));
    let filtered = reg.get(&format!(
        "/v2/library/art/referrers/{image_digest}?artifactType=application/vnd.example.sbom"
    ));
    assert_eq!(filtered.headers()["oci-filters-applied"], "artifactType");
    let filtered: Value = filtered.json().expect("index");
    assert_eq!(filtered["manifests"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        filtered["manifests"][0]["digest"],
        sha256(sbom.as_bytes()).as_str()
    );
    assert_eq!(filtered["manifests"][0]["annotations"]["note"], "b");
    // No referrers: an empty index, not a 404.
    let none: Value = reg
        .get(&format!("/v2/library/art/referrers/{}", sha256(b"x")))
        .json()
        .expect("index");
    assert_eq!(none["manifests"], json!([]));
    // The manifest by digest and by tag, GET and HEAD.
    let r = reg.get(&format!("/v2/library/art/manifests/{image_digest}"));
    assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
    assert_eq!(r.bytes().expect("body").as_ref(), image.as_slice());
    let h = reg
        .req(Method::HEAD, "/v2/library/art/manifests/v1")
        .send()
        .expect("HEAD");
    assert_eq!(h.headers()["docker-content-digest"], image_digest.as_str());
    assert_eq!(
        h.headers()["content-length"],
        image.len().to_string().as_str()
    );
}

#[test]
fn tags_and_catalog_paginate_and_catalog_shows_only_what_the_caller_may_pull() {
    let berthd = Berthd::start();
    berthd.create_project("hidden", false);
    let reg = berthd.registry(&["library/pages", "library/other", "hidden/secret"]);
    for tag in ["a", "b", "c", "d", "e"] {
        reg.push_image("library/pages", tag, tag.as_bytes());
    }
    reg.push_image("library/other", "x", b"x");
    reg.push_image("hidden/secret", "x", b"y");

    let r = reg.get("/v2/library/pages/tags/list?n=2");
    let link = r.headers()["link"].to_str().expect("link").to_string();
    assert_eq!(
        link,
        r#"</v2/library/pages/tags/list?n=2&last=b>; rel="next""#
    );
    assert_eq!(r.json::<Value>().expect("json")["tags"], json!(["a", "b"]));
    let r = reg.get("/v2/library/pages/tags/list?n=2&last=b");
    assert_eq!(r.json::<Value>().expect("json")["tags"], json!(["c", "d"]));
    let r = reg.get("/v2/library/pages/tags/list?n=2&last=d");
    assert!(r.headers().get("link").is_none());
    assert_eq!(r.json::<Value>().expect("json")["tags"], json!(["e"]));
    assert_eq!(
        reg.get("/v2/library/pages/tags/list")
            .json::<Value>()
            .expect("json")["tags"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    let nothing = berthd.registry(&["library/nothing"]);
    assert_eq!(
        error_code(nothing.get("/v2/library/nothing/tags/list")),
        "NAME_UNKNOWN"
    );

    let catalog = |token: &str, q: &str| -> (Value, Option<String>) {
        let r = http()
            .get(format!("{}/v2/_catalog{q}", berthd.url()))
            .bearer_auth(token)
            .send()
            .expect("catalog");
        assert_eq!(r.status(), 200);
        let link = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap_or_default().to_string());
        (r.json().expect("json"), link)
    };
    let admin = berthd.token(Some(("admin", ADMIN_PASSWORD)), &["registry:catalog:*"]);
    let (all, _) = catalog(&admin, "");
    assert_eq!(
        all["repositories"],
        json!(["hidden/secret", "library/other", "library/pages"])
    );
    let (page, link) = catalog(&admin, "?n=1");
    assert_eq!(page["repositories"], json!(["hidden/secret"]));
    assert_eq!(
        link.as_deref(),
        Some(r#"</v2/_catalog?n=1&last=hidden%2Fsecret>; rel="next""#)
    );
    let anon = berthd.token(None, &["registry:catalog:*"]);
    let (public, _) = catalog(&anon, "");
    assert_eq!(
        public["repositories"],
        json!(["library/other", "library/pages"])
    );
    // Without a token, the catalog challenges for its own scope.
    let r = http()
        .get(format!("{}/v2/_catalog", berthd.url()))
        .send()
        .expect("catalog");
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .expect("h")
        .contains("registry:catalog:*"));
}

#[test]
fn projects_api_and_health() {
    let berthd = Berthd::start();
    let url = format!("{}/api/v2.0/projects", berthd.url());
    let create = |body: Value, auth: bool| {
        let mut r = http().post(&url).json(&body);
        if auth {
            r = r.basic_auth("admin", Some(ADMIN_PASSWORD));
        }
        r.send().expect("POST").status().as_u16()
    };
    assert_eq!(
        create(
            json!({"project_name": "fine", "metadata": {"public": "false"}}),
            true
        ),
        201
    );
    assert_eq!(create(json!({"project_name": "fine"}), true), 409);
    assert_eq!(create(json!({"project_name": "Bad Name"}), true), 400);
    assert_eq!(
        create(json!({"project_name": "x", "surprise": 1}), true),
        400
    );
    assert_eq!(
        create(
            json!({"project_name": "x", "metadata": {"public": "yes"}}),
            true
        ),
        400
    );
    assert_eq!(create(json!({"project_name": "anon"}), false), 401);
    let r = http()
        .get(format!("{url}/fine"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .expect("GET");
    let p: Value = r.json().expect("json");
    assert_eq!(p["metadata"]["public"], "false");
    assert_eq!(
        http()
            .get(format!("{url}/fine"))
            .send()
            .expect("GET")
            .status(),
        401
    );
    assert_eq!(
        http()
            .get(format!("{url}/library"))
            .send()
            .expect("GET")
            .status(),
        200
    );
    let r = http()
        .post(&url)
        .basic_auth("admin", Some("wrong"))
        .json(&json!({"project_name": "y"}))
        .send()
        .expect("POST");
    assert_eq!(r.status(), 401);
    let body: Value = r.json().expect("json");
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    let h: Value = http()
        .get(format!("{}/api/v2.0/health", berthd.url()))
        .send()
        .expect("health")
        .json()
        .expect("json");
    assert_eq!(h["status"], "healthy");
}

#[test]
fn docker_manifest_list_and_deduplicated_storage() {
    let berthd = Berthd::start();
    let reg = berthd.registry(&["library/list", "library/copy"]);
    let layer = random_bytes(50_000);
    // The same layer pushed to two repositories is stored once.
    reg.push_blob("library/list", &layer);
    reg.push_blob("library/copy", &layer);
    let stored = walk(&berthd.data().join("blobs"));
    assert_eq!(
        stored.len(),
        1,
        "expected one file for one blob, found {stored:?}"
    );

    let docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";
    let config = br#"{"architecture":"arm64","os":"linux"}"#;
    let c = reg.push_blob("library/list", config);
    let child = json!({
        "schemaVersion": 2, "mediaType": docker_manifest,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": c, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": sha256(&layer), "size": layer.len()}],
    })
    .to_string();
    let child_digest = sha256(child.as_bytes());
    let list_type = "application/vnd.docker.distribution.manifest.list.v2+json";
    let list = json!({"schemaVersion": 2, "mediaType": list_type, "manifests": [
        {"mediaType": docker_manifest, "digest": child_digest, "size": child.len(), "platform": {"architecture": "arm64", "os": "linux"}}]})
    .to_string();
    // The list before its child: the child is unknown.
    let r = reg.put_manifest("library/list", "multi", list_type, list.as_bytes());
    assert_eq!(error_code(r), "MANIFEST_BLOB_UNKNOWN");
    let r = reg.put_manifest(
        "library/list",
        &child_digest,
        docker_manifest,
        child.as_bytes(),
    );
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let r = reg.put_manifest("library/list", "multi", list_type, list.as_bytes());
    assert_eq!(r.status(), 201, "{:?}", r.text());
    let back = reg
        .req(Method::GET, "/v2/library/list/manifests/multi")
        .send()
        .expect("GET");
    assert_eq!(back.headers()["content-type"], list_type);
    assert_eq!(
        back.headers()["docker-content-digest"],
        sha256(list.as_bytes()).as_str()
    );
    assert_eq!(back.bytes().expect("body").as_ref(), list.as_bytes());
    // Deleting by tag removes only the tag.
    assert_eq!(
        reg.req(Method::DELETE, "/v2/library/list/manifests/multi")
            .send()
            .expect("DEL")
            .status(),
        202
    );
    assert_eq!(
        error_code(reg.get("/v2/library/list/manifests/multi")),
        "MANIFEST_UNKNOWN"
    );
    assert_eq!(
        reg.get(&format!(
            "/v2/library/list/manifests/{}",
            sha256(list.as_bytes())
        ))
        .status(),
        200
    );
}
