//! Download of `i2pseeds.su3` from the HTTPS reseed servers in `reseed.urls`.
//!
//! The async reqwest client runs on the router's tokio runtime (the download is I/O; the su3
//! check afterwards goes to the blocking pool). TLS is rustls with ring and the webpki-roots CA
//! set compiled into the binary (reqwest's `rustls-tls-webpki-roots` feature): the container image is `FROM scratch`, so there is no system CA
//! bundle to load. Integrity does not rest on TLS alone: every download is an su3 whose
//! signature must verify against a configured signer certificate.

use std::time::Duration;
use thiserror::Error;

/// Reseed servers answer only clients that look like the Java router's fetcher.
pub const USER_AGENT: &str = "Wget/1.11.4";
/// Whole-request deadline (connect, TLS, headers and body). Bundles are ~100 KiB.
pub const TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest body accepted; real bundles are well under 1 MiB.
pub const MAX_SU3_LEN: usize = 32 * 1024 * 1024;

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

/// An HTTPS-only client with the embedded CA roots, the reseed User-Agent and the timeouts.
pub fn client() -> Result<reqwest::Client, FetchError> {
    common()
        // rustls with the compiled-in webpki roots (the crate feature), never a system store.
        .use_rustls_tls()
        .tls_built_in_root_certs(true)
        // Also refuses a redirect to plain HTTP.
        .https_only(true)
        .build()
        .map_err(|e| FetchError::Client(e.to_string()))
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
        client().unwrap();
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
        let c = client().unwrap();
        let e = fetch(&c, "http://127.0.0.1:9/i2pseeds.su3", 10)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Request { .. }), "{e}");
    }
}
