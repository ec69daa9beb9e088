//! A bare HTTP/1.1 client for the JSON listener: one request per connection, raw bytes on
//! the wire, so tests see exactly the status line and headers the server sends.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub struct HttpResponse {
    pub status: u16,
    /// Header lines, names lowercased: `("retry-after", "1")`.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// `method path` with `headers`, over any stream (plain TCP or TLS).
pub async fn request_on<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    exchange(stream, "crm", method, path, headers, "").await
}

/// `method path` with `headers` and a body of `content_type`, with `Host` naming `addr`
/// as a browser (or a WebDriver client) would.
pub async fn send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &str,
) -> HttpResponse {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let mut with_type = headers.to_vec();
    if !content_type.is_empty() {
        with_type.push(("Content-Type", content_type));
    }
    exchange(stream, &addr.to_string(), method, path, &with_type, body).await
}

/// `method path` with `headers` and a JSON `body` over plain TCP to `addr`.
pub async fn send_json(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let mut with_type = headers.to_vec();
    with_type.push(("Content-Type", "application/json"));
    exchange(stream, "crm", method, path, &with_type, body).await
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let raw = read_response(&mut stream).await;
    let text = String::from_utf8(raw).unwrap_or_else(|e| panic!("utf-8: {e}"));
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// The response's bytes: up to `Content-Length` when the head names one (some servers,
/// chromedriver among them, keep the connection open despite `Connection: close`), else
/// until the peer closes.
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8_192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok());
            if let Some(length) = length
                && raw.len() >= end + 4 + length
            {
                raw.truncate(end + 4 + length);
                return raw;
            }
        }
        match stream.read(&mut chunk).await {
            // A TLS peer may close without close_notify after `Connection: close`.
            Ok(0) | Err(_) => return raw,
            Ok(read) => raw.extend_from_slice(&chunk[..read]),
        }
    }
}

/// A request over plain TCP to `addr`.
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    request_on(stream, method, path, headers).await
}
