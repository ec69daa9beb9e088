//! Sending items in batches, as the imports and the demo do (accounts, contract events,
//! survey answers): up to `MAX_BATCH` items a call, `BATCHES_IN_FLIGHT` calls at a time,
//! each refusal for a rate or an in-flight limit waited out. Items carry a tag (a CSV
//! line, a plan's index) that comes back with their batch's answer.

use futures::{StreamExt, TryStreamExt};

use super::*;

/// Batches in flight: while one is written, the next is parsed and checked. Contract rows
/// of one account are still sent in order.
const BATCHES_IN_FLIGHT: usize = 2;

/// Creates the accounts; `answered` gets each batch's tags and answer as it comes back.
pub async fn create_accounts<T>(
    client: &AccountsServiceClient<Channel>,
    items: Vec<(T, pb::CreateAccountRequest)>,
    answered: impl FnMut(Vec<T>, pb::BatchCreateAccountsResponse),
) -> anyhow::Result<()> {
    send(client, items, answered, |mut client, items| async move {
        let request = pb::BatchCreateAccountsRequest { items };
        client.batch_create_accounts(request).await
    })
    .await
}

/// Records the events round by round: round k holds every account's k-th event, so a
/// round's batches may go side by side and an account's events still take effect in
/// order.
pub async fn record_events_in_rounds<T>(
    client: &AccountsServiceClient<Channel>,
    rounds: Vec<Vec<(T, pb::ContractEvent)>>,
    mut answered: impl FnMut(Vec<T>, pb::BatchRecordContractEventsResponse),
) -> anyhow::Result<()> {
    for round in rounds {
        send(
            client,
            round,
            &mut answered,
            |mut client, events| async move {
                let request = pb::BatchRecordContractEventsRequest { events };
                client.batch_record_contract_events(request).await
            },
        )
        .await?;
    }
    Ok(())
}

/// Sends the items in batches, `BATCHES_IN_FLIGHT` at a time, each call waited out
/// patiently; `answered` gets each batch's tags and answer as it comes back.
pub async fn send<C: Clone, T, I: Clone, R, Fut>(
    client: &C,
    items: Vec<(T, I)>,
    mut answered: impl FnMut(Vec<T>, R),
    call: impl Fn(C, Vec<I>) -> Fut + Copy,
) -> anyhow::Result<()>
where
    Fut: std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
{
    let mut sent = futures::stream::iter(in_batches(items).map(|(tags, items)| async move {
        let response = patiently(client, items, call)
            .await
            .map_err(|status| describe(&status))?;
        anyhow::Ok((tags, response.into_inner()))
    }))
    .buffer_unordered(BATCHES_IN_FLIGHT);
    while let Some((tags, response)) = sent.try_next().await? {
        answered(tags, response);
    }
    Ok(())
}

/// Puts `item` in round `round` (its account's `round`-th event), adding rounds as needed.
pub fn push_to_round<T>(rounds: &mut Vec<Vec<T>>, round: usize, item: T) {
    if rounds.len() <= round {
        rounds.resize_with(round + 1, Vec::new);
    }
    rounds[round].push(item);
}

/// The items in batches of up to `MAX_BATCH`, each split into its tags and its items.
fn in_batches<T, I>(items: Vec<(T, I)>) -> impl Iterator<Item = (Vec<T>, Vec<I>)> {
    let mut items = items.into_iter().peekable();
    std::iter::from_fn(move || {
        items.peek()?;
        Some(items.by_ref().take(MAX_BATCH).unzip())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_order_and_size() {
        let items: Vec<(usize, char)> = (0..2_500).map(|i| (i, 'x')).collect();
        let batches: Vec<(Vec<usize>, Vec<char>)> = in_batches(items).collect();
        let sizes: Vec<usize> = batches.iter().map(|(tags, _)| tags.len()).collect();
        assert_eq!(sizes, [MAX_BATCH, MAX_BATCH, 2_500 - 2 * MAX_BATCH]);
        let tags: Vec<usize> = batches.into_iter().flat_map(|(tags, _)| tags).collect();
        assert_eq!(tags, (0..2_500).collect::<Vec<_>>());
        assert_eq!(in_batches(Vec::<(usize, char)>::new()).count(), 0);
    }
}
