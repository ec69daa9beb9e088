//! The gRPC adapter of the gateway: validate, set the budget, delegate.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use nordstern_proto::gateway::v1::{self as pb, gateway_service_server::GatewayService};
use nordstern_runtime::{
    status::FieldViolations,
    wire::{id_field, required_id, required_period},
};
use tonic::{Request, Response, Status};

use crate::{
    fanout::Budget,
    tickets::Tickets,
    views::{self, Backends, year_to_date},
};

#[derive(Clone)]
pub struct GatewayGrpc {
    inner: Arc<Inner>,
}

struct Inner {
    backends: Backends,
    tickets: Tickets,
    fanout_timeout: Duration,
}

impl GatewayGrpc {
    pub fn new(backends: Backends, tickets: Tickets, fanout_timeout: Duration) -> Self {
        GatewayGrpc {
            inner: Arc::new(Inner {
                backends,
                tickets,
                fanout_timeout,
            }),
        }
    }

    /// The writer of the gateway's own storage (the webhook relay queues behind it).
    pub fn writer(&self) -> nordstern_runtime::storage::SerialWriter {
        self.inner.tickets.writer()
    }

    fn budget<T>(&self, request: &Request<T>) -> Budget {
        Budget::for_request(request, self.inner.fanout_timeout)
    }
}

#[tonic::async_trait]
impl GatewayService for GatewayGrpc {
    async fn get_customer360(
        &self,
        request: Request<pb::GetCustomer360Request>,
    ) -> Result<Response<pb::GetCustomer360Response>, Status> {
        let budget = self.budget(&request);
        let account_id = required_id("account_id", &request.get_ref().account_id)?;
        let view = self
            .inner
            .backends
            .customer360(&account_id, &budget)
            .await?;
        Ok(Response::new(view))
    }

    async fn get_portfolio(
        &self,
        request: Request<pb::GetPortfolioRequest>,
    ) -> Result<Response<pb::GetPortfolioResponse>, Status> {
        let budget = self.budget(&request);
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let csm_id = id_field(&mut violations, "csm_id", &request.csm_id);
        let period = match &request.period {
            None => Some(year_to_date(Utc::now().date_naive())),
            Some(period) => required_period(&mut violations, "period", Some(period))
                .map(|(start, end)| views::period(start, end)),
        };
        violations.into_result()?;
        let view = self
            .inner
            .backends
            .portfolio(&csm_id, period.unwrap_or_default(), &budget)
            .await?;
        Ok(Response::new(view))
    }

    async fn route_ticket(
        &self,
        request: Request<pb::RouteTicketRequest>,
    ) -> Result<Response<pb::RouteTicketResponse>, Status> {
        let budget = self.budget(&request);
        let routed = self
            .inner
            .tickets
            .route(&self.inner.backends, &budget, request.into_inner())
            .await?;
        Ok(Response::new(routed))
    }

    async fn route_helpdesk_ticket(
        &self,
        request: Request<pb::RouteHelpdeskTicketRequest>,
    ) -> Result<Response<pb::RouteHelpdeskTicketResponse>, Status> {
        let budget = self.budget(&request);
        let routed = crate::helpdesk::route(
            &self.inner.backends,
            &self.inner.tickets,
            &budget,
            request.into_inner(),
        )
        .await?;
        Ok(Response::new(routed))
    }

    async fn resolve_ticket(
        &self,
        request: Request<pb::ResolveTicketRequest>,
    ) -> Result<Response<pb::ResolveTicketResponse>, Status> {
        let resolved = self
            .inner
            .tickets
            .resolve(&self.inner.backends, request.into_inner())
            .await?;
        Ok(Response::new(resolved))
    }
}
