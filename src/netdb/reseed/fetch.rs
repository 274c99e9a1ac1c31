//! Download of `i2pseeds.su3` from the HTTPS reseed servers in `reseed.urls`.
//!
//! The async reqwest client runs on the router's tokio runtime (the download is I/O; the su3
//! check afterwards goes to the blocking pool). TLS is rustls with ring and the webpki-roots CA
//! set compiled into the binary (reqwest's `rustls-tls-webpki-roots` feature): the container image is `FROM scratch`, so there is no system CA
//! bundle to load. Integrity does not rest on TLS alone: every download is an su3 whose
//! signature must verify against a configured signer certificate.
//!
//! `reseed.tls_roots` adds CA certificates to the embedded set, for reseed servers of a private
//! network (the tests' own server in its namespace) or a server with its own CA.

use std::time::Duration;
use thiserror::Error;

/// Reseed servers answer only clients that look like the Java router's fetcher.
pub const USER_AGENT: &str = "Wget/1.11.4";
/// Whole-request deadline (connect, TLS, headers and body). Bundles are ~100 KiB, so a server
/// that needs longer is overloaded and the next one is a better use of the time (Java I2P
/// gives a host 10 s per RouterInfo fetch; a whole bundle gets 30 s here).
pub const TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest body accepted. Real bundles are 50-150 KiB; Java I2P refuses su3 answers over 1 MiB
/// (`MAX_SU3_RESPONSE_SIZE`), and so does floodgate: a server sending more is not a reseed.
pub const MAX_SU3_LEN: usize = 1024 * 1024;

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("building the HTTPS client: {0}")]
    Client(String),
    #[error("{url}: {why}")]
    Request { url: String, why: String },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: body longer than {max} bytes")]
    TooLarge { url: String, max: usize },
    #[error("reseed.tls_roots {path}: {why}")]
    TlsRoot { path: String, why: String },
}

/// Read the PEM CA certificates of `reseed.tls_roots` (each file may hold several).
pub fn load_tls_roots(
    paths: &[std::path::PathBuf],
) -> Result<Vec<reqwest::Certificate>, FetchError> {
    let mut out = Vec::new();
    for p in paths {
        let err = |why: String| FetchError::TlsRoot {
            path: p.display().to_string(),
            why,
        };
        let pem = std::fs::read(p).map_err(|e| err(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no PEM certificate in the file".into()));
        }
        out.extend(certs);
    }
    Ok(out)
}

/// The su3 URL of a reseed server: `<url>/i2pseeds.su3?netid=<net_id>`, whether or not the
/// configured URL ends with `/`. A URL that already names an `.su3` file is used as given.
pub fn su3_url(base: &str, net_id: u8) -> String {
    let file = if base.ends_with(".su3") {
        base.to_string()
    } else {
        format!("{}/i2pseeds.su3", base.trim_end_matches('/'))
    };
    format!("{file}?netid={net_id}")
}

/// An HTTPS-only client with the embedded CA roots plus `extra_roots`, the reseed User-Agent
/// and the timeouts.
pub fn client(extra_roots: &[reqwest::Certificate]) -> Result<reqwest::Client, FetchError> {
    let mut b = common()
        // rustls with the compiled-in webpki roots (the crate feature), never a system store.
        .use_rustls_tls()
        .tls_built_in_root_certs(true)
        // Also refuses a redirect to plain HTTP.
        .https_only(true);
    for c in extra_roots {
        b = b.add_root_certificate(c.clone());
    }
    b.build().map_err(|e| FetchError::Client(e.to_string()))
}

/// The host part of a reseed URL, lower-cased: servers are counted as distinct sources by host
/// (two URLs of one host are one operator), as Java I2P does.
pub fn url_host(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
}

/// Settings every reseed client shares; tests add plain HTTP to reach a local server.
fn common() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
}

/// GET `url` and return the body, refusing it as soon as it passes `max` bytes.
pub async fn fetch(client: &reqwest::Client, url: &str, max: usize) -> Result<Vec<u8>, FetchError> {
    let req_err = |e: reqwest::Error| FetchError::Request {
        url: url.to_string(),
        why: e.to_string(),
    };
    let mut resp = client.get(url).send().await.map_err(req_err)?;
    if !resp.status().is_success() {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: resp.status().as_u16(),
        });
    }
    let too_large = || FetchError::TooLarge {
        url: url.to_string(),
        max,
    };
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(req_err)? {
        if body.len().saturating_add(chunk.len()) > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn url_with_and_without_trailing_slash() {
        assert_eq!(
            su3_url("https://reseed.example/", 2),
            "https://reseed.example/i2pseeds.su3?netid=2"
        );
        assert_eq!(
            su3_url("https://reseed.example/path", 99),
            "https://reseed.example/path/i2pseeds.su3?netid=99"
        );
        assert_eq!(
            su3_url("https://r.example/x/i2pseeds.su3", 2),
            "https://r.example/x/i2pseeds.su3?netid=2"
        );
    }

    #[test]
    fn the_client_builds_with_embedded_roots() {
        // Proves the TLS wiring (provider, roots, preconfigured backend) is accepted by reqwest
        // without touching the network.
        client(&[]).unwrap();
    }

    #[test]
    fn hosts_are_compared_lower_case_without_port_or_path() {
        assert_eq!(
            url_host("https://Reseed.Example:8443/x/").as_deref(),
            Some("reseed.example")
        );
        assert_eq!(
            url_host("https://198.18.0.9/").as_deref(),
            Some("198.18.0.9")
        );
        assert_eq!(url_host("not a url"), None);
    }

    #[test]
    fn tls_roots_are_read_or_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let good = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/reseed/floodgate-test_at_mail.i2p.crt");
        assert_eq!(load_tls_roots(&[good]).unwrap().len(), 1);
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, b"nothing here").unwrap();
        let e = load_tls_roots(&[empty]).unwrap_err();
        assert!(e.to_string().contains("empty.pem"), "{e}");
        let e = load_tls_roots(&[dir.path().join("missing.pem")]).unwrap_err();
        assert!(matches!(e, FetchError::TlsRoot { .. }), "{e}");
    }

    /// A one-shot HTTP/1.1 server on loopback: answers `head` + `body` to the first request
    /// and hands back the request head it received.
    async fn serve_once(head: String, body: Vec<u8>) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "client closed before sending a request");
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(head.as_bytes()).await.unwrap();
            // The client may hang up early (size cap): write errors are expected then.
            let _ = s.write_all(&body).await;
            let _ = s.shutdown().await;
            String::from_utf8_lossy(&req).into_owned()
        });
        (url, h)
    }

    /// The production settings without https_only: the fetch logic against a local server.
    fn test_client() -> reqwest::Client {
        common().build().unwrap()
    }

    #[tokio::test]
    async fn fetch_sends_the_reseed_request_and_returns_the_body() {
        let body = b"I2Psu3 pretend".to_vec();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let (base, server) = serve_once(head, body.clone()).await;
        let got = fetch(&test_client(), &su3_url(&base, 7), 1024)
            .await
            .unwrap();
        assert_eq!(got, body);
        let req = server.await.unwrap();
        assert!(
            req.starts_with("GET /i2pseeds.su3?netid=7 HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(
            req.to_ascii_lowercase()
                .contains("user-agent: wget/1.11.4\r\n"),
            "{req}"
        );
    }

    #[tokio::test]
    async fn fetch_refuses_errors_and_oversized_bodies() {
        let (base, _s) = serve_once(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
            vec![],
        )
        .await;
        let e = fetch(&test_client(), &su3_url(&base, 2), 1024)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e}");

        // Declared too large: refused from the header.
        let (base, _s) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n".into(),
            vec![0; 5000],
        )
        .await;
        let e = fetch(&test_client(), &su3_url(&base, 2), 1024)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::TooLarge { max: 1024, .. }), "{e}");

        // No length (body until close): refused while streaming.
        let (base, _s) = serve_once(
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".into(),
            vec![0; 5000],
        )
        .await;
        let e = fetch(&test_client(), &su3_url(&base, 2), 1024)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::TooLarge { max: 1024, .. }), "{e}");
    }

    #[tokio::test]
    async fn plain_http_is_refused_before_any_connection() {
        // https_only: a plain URL fails in the client, not at a server (none listens here).
        let c = client(&[]).unwrap();
        let e = fetch(&c, "http://127.0.0.1:9/i2pseeds.su3", 10)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Request { .. }), "{e}");
    }
}
