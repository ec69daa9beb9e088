//! Calls an RPC by its path with the encoded request, on the service implementations of
//! this process (the local ones or the clients of remote ones), as a gRPC client would:
//! framed, with the deadline in `grpc-timeout`, answered with a status. Nothing is
//! decoded twice and no route is written by hand.

use bytes::{Buf, BufMut, Bytes};
use http::uri::PathAndQuery;
use std::time::Duration;
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    service::Routes,
};

/// The services an HTTP route may reach.
#[derive(Clone)]
pub struct Dispatch {
    routes: Routes,
}

impl Dispatch {
    pub fn new(routes: Routes) -> Self {
        Dispatch { routes }
    }

    /// The encoded answer of `grpc_path` (`/package.Service/Method`) to `request`.
    pub async fn call(
        &self,
        grpc_path: &str,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, Status> {
        let path = PathAndQuery::try_from(grpc_path)
            .map_err(|error| nordstern_runtime::status::internal(&error))?;
        let mut client = tonic::client::Grpc::new(self.routes.clone());
        client
            .ready()
            .await
            .map_err(|error| Status::unavailable(error.to_string()))?;
        let mut request = tonic::Request::new(Bytes::from(request));
        request.set_timeout(timeout);
        client
            .unary(request, path, RawCodec)
            .await
            .map(tonic::Response::into_inner)
    }
}

/// Messages passed through as the bytes they are.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
