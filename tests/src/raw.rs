//! Calls any gRPC method by path with raw bytes and any `authorization` header, bytes
//! included that no typed client would send: what the authorization matrix and the
//! garbage-header tests need.

use std::{
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Buf, BufMut};
use http::HeaderValue;
use tonic::{
    Code, Status,
    body::Body,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};

/// A channel that sends one fixed `authorization` value (or none) with every call.
#[derive(Clone)]
pub struct WithAuthorization {
    inner: Channel,
    value: Option<HeaderValue>,
}

impl WithAuthorization {
    pub fn new(inner: Channel, value: Option<HeaderValue>) -> Self {
        WithAuthorization { inner, value }
    }

    pub fn bearer(inner: Channel, secret: &str) -> Self {
        let value = HeaderValue::from_str(&format!("Bearer {secret}"))
            .unwrap_or_else(|error| panic!("{error}"));
        WithAuthorization::new(inner, Some(value))
    }
}

impl tower::Service<http::Request<Body>> for WithAuthorization {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = <Channel as tower::Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        if let Some(value) = &self.value {
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value.clone());
        }
        self.inner.call(request)
    }
}

#[derive(Clone, Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

/// Sends `message` (raw protobuf bytes) to `path` as a stream of one, whatever the
/// method's shape, and returns the code it was answered with: the error status, or OK
/// once a first message (or, for a stream that stays open, nothing within a second)
/// came back.
pub async fn call_code(channel: WithAuthorization, path: &str, message: Vec<u8>) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Err(error) = grpc.ready().await {
        panic!("channel not ready: {error}");
    }
    let path = http::uri::PathAndQuery::try_from(path).unwrap_or_else(|e| panic!("{e}"));
    let request = tonic::Request::new(tokio_stream::once(message));
    match grpc.streaming(request, path, RawCodec).await {
        Err(status) => status.code(),
        Ok(response) => {
            let mut stream = response.into_inner();
            match tokio::time::timeout(Duration::from_secs(1), stream.message()).await {
                Ok(Err(status)) => status.code(),
                Ok(Ok(_)) | Err(_) => Code::Ok,
            }
        }
    }
}
