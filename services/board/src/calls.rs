//! The services as the board calls them: typed gRPC clients over the process's router
//! of services (local, or clients of remote ones), each call with its deadline.

use std::time::Duration;

use nordstern_proto::{
    accounts::v1::accounts_service_client::AccountsServiceClient,
    gateway::v1::gateway_service_client::GatewayServiceClient,
    scoring::v1::scoring_service_client::ScoringServiceClient,
    survey::v1::survey_service_client::SurveyServiceClient,
    usage::v1::usage_service_client::UsageServiceClient,
};
use tonic::service::Routes;

#[derive(Clone)]
pub struct Calls {
    services: Routes,
    timeout: Duration,
}

impl Calls {
    pub fn new(services: Routes, timeout: Duration) -> Self {
        Calls { services, timeout }
    }

    /// `message` as a request with the board's deadline.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.timeout);
        request
    }

    pub fn accounts(&self) -> AccountsServiceClient<Routes> {
        AccountsServiceClient::new(self.services.clone())
    }

    pub fn gateway(&self) -> GatewayServiceClient<Routes> {
        GatewayServiceClient::new(self.services.clone())
    }

    pub fn scoring(&self) -> ScoringServiceClient<Routes> {
        ScoringServiceClient::new(self.services.clone())
    }

    pub fn survey(&self) -> SurveyServiceClient<Routes> {
        SurveyServiceClient::new(self.services.clone())
    }

    pub fn usage(&self) -> UsageServiceClient<Routes> {
        UsageServiceClient::new(self.services.clone())
    }
}
