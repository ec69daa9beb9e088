//! The usage API as other services hold it (scoring pulls summaries, the gateway reads
//! series): `Arc<dyn UsageService>`, in-process ([`local`]) or behind gRPC
//! ([`RemoteUsage`]), one code path for both deployment modes.

use std::sync::Arc;

use nordstern_runtime::{
    Role,
    config::GrpcConfig,
    start::{RoleContext, StartError},
};

use nordstern_proto::usage::v1::{
    self as pb, usage_service_client::UsageServiceClient, usage_service_server::UsageService,
};
use nordstern_runtime::client::BoxStream;

use crate::UsageGrpc;

/// The usage API, local or remote.
pub type UsageApi = Arc<
    dyn UsageService<
            StreamUsageSummariesStream = BoxStream<pb::StreamUsageSummariesResponse>,
            StreamUsageSummariesAtStream = BoxStream<pb::StreamUsageSummariesAtResponse>,
            ExportAccountUsageStream = BoxStream<pb::ExportAccountUsageResponse>,
        >,
>;

pub fn local(service: UsageGrpc, grpc: &GrpcConfig) -> UsageApi {
    LocalUsage::new(Arc::new(service), grpc).into_api()
}

/// The usage service for a role that calls it: the one started in this process, or a
/// client of `endpoints.usage`.
pub fn api(context: &RoleContext) -> Result<UsageApi, StartError> {
    context.api(Role::Usage, RemoteUsage::connect, RemoteUsage::into_api)
}

nordstern_runtime::remote_service! {
    /// The usage service over gRPC. Ingestion is safe to retry: events are deduplicated
    /// by (account_id, event_id).
    RemoteUsage, LocalUsage: UsageServiceClient => UsageService {
        unary {
            ingest_events(pb::IngestEventsRequest) -> pb::IngestEventsResponse, |_| true;
            ingest_track_events(pb::IngestTrackEventsRequest) -> pb::IngestTrackEventsResponse, |_| true;
            get_usage_summary(pb::GetUsageSummaryRequest) -> pb::GetUsageSummaryResponse, |_| true;
            batch_get_usage_summaries(pb::BatchGetUsageSummariesRequest) -> pb::BatchGetUsageSummariesResponse, |_| true;
            batch_get_usage_summaries_at(pb::BatchGetUsageSummariesAtRequest) -> pb::BatchGetUsageSummariesAtResponse, |_| true;
            get_usage_timeseries(pb::GetUsageTimeseriesRequest) -> pb::GetUsageTimeseriesResponse, |_| true;
            erase_account_usage(pb::EraseAccountUsageRequest) -> pb::EraseAccountUsageResponse, |_| false;
            erase_user_usage(pb::EraseUserUsageRequest) -> pb::EraseUserUsageResponse, |_| false;
        }
        server_streaming {
            stream_usage_summaries(pb::StreamUsageSummariesRequest) -> pb::StreamUsageSummariesResponse as StreamUsageSummariesStream;
            stream_usage_summaries_at(pb::BatchGetUsageSummariesAtRequest) -> pb::StreamUsageSummariesAtResponse as StreamUsageSummariesAtStream;
            export_account_usage(pb::ExportAccountUsageRequest) -> pb::ExportAccountUsageResponse as ExportAccountUsageStream;
        }
        client_streaming {
            ingest_event_stream(pb::IngestEventStreamRequest) -> pb::IngestEventStreamResponse;
        }
    }
}
