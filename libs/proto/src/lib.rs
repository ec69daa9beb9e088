//! Generated code for the Nordstern gRPC contracts (`proto/nordstern/<service>/v1`).
//! Every service's messages, clients and servers are here; which servers run is decided
//! by the roles enabled at start, never by what is generated.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// Serialized `FileDescriptorSet` of every Nordstern proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/nordstern_descriptor.bin"));

pub mod common {
    pub mod v1 {
        tonic::include_proto!("nordstern.common.v1");
    }
}

pub mod auth {
    pub mod v1 {
        tonic::include_proto!("nordstern.auth.v1");
    }
}

pub mod accounts {
    pub mod v1 {
        tonic::include_proto!("nordstern.accounts.v1");
    }
}

/// The echo service the benchmarks measure as their baseline.
pub mod bench {
    pub mod v1 {
        tonic::include_proto!("nordstern.bench.v1");
    }
}

pub mod usage {
    pub mod v1 {
        tonic::include_proto!("nordstern.usage.v1");
    }
}

pub mod survey {
    pub mod v1 {
        tonic::include_proto!("nordstern.survey.v1");
    }
}

pub mod scoring {
    pub mod v1 {
        tonic::include_proto!("nordstern.scoring.v1");
    }
}

pub mod gateway {
    pub mod v1 {
        tonic::include_proto!("nordstern.gateway.v1");
    }
}

pub mod webhooks {
    pub mod v1 {
        tonic::include_proto!("nordstern.webhooks.v1");
    }
}
