//! Turning etcd client errors and timeouts into `StoreError`: what may pass with a retry is
//! `Unavailable`, a request etcd refuses for its size is `TooLarge`, the rest is `Internal`.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use etcd_client::Error as EtcdError;
use nodestatus_store::StoreError;
use tonic::Code;

/// A request that got no answer in time.
#[derive(Debug, thiserror::Error)]
#[error("no answer from etcd within {0:?}")]
pub(crate) struct TimedOut(pub(crate) Duration);

/// Runs one etcd request with a deadline; a timeout or a transport failure is `Unavailable`.
pub(crate) async fn call<T>(
    timeout: Duration,
    context: impl Fn() -> String,
    request: impl Future<Output = Result<T, EtcdError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(from_etcd(context(), err)),
        Err(_) => Err(StoreError::unavailable(context(), TimedOut(timeout))),
    }
}

/// Classifies an etcd client error.
pub(crate) fn from_etcd(context: impl fmt::Display, err: EtcdError) -> StoreError {
    let retryable = match &err {
        EtcdError::GRpcStatus(status) => {
            matches!(
                status.code(),
                // Unknown is what tonic reports for a connection reset mid-request.
                Code::Unavailable
                    | Code::DeadlineExceeded
                    | Code::Aborted
                    | Code::Cancelled
                    | Code::Unknown
            ) || (status.code() == Code::ResourceExhausted && !is_too_large(&err))
        }
        EtcdError::TransportError(_) | EtcdError::IoError(_) | EtcdError::WatchError(_) => true,
        _ => false,
    };
    let described = describe(&err);
    if retryable {
        StoreError::unavailable(context, described)
    } else {
        StoreError::internal(context, described)
    }
}

/// An etcd error said with its causes: tonic's transport error alone says "transport error",
/// and what went wrong ("invalid peer certificate: UnknownIssuer", "Connection refused") is
/// further down its chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Described(String);

fn describe(err: &EtcdError) -> Described {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    if text.contains("certificate") {
        text.push_str(
            " (check the TLS files: ETCD_CA_CERT_FILE must hold the CA that signed the etcd \
             server's certificate; ETCD_CERT_FILE/ETCD_KEY_FILE a client certificate it accepts)",
        );
    }
    Described(text)
}

/// True when etcd refused a request for its size: its own limit ("etcdserver: request is too
/// large", `--max-request-bytes`) or gRPC's, which is that limit plus 512 KiB ("received message
/// larger than max").
pub(crate) fn is_too_large(err: &EtcdError) -> bool {
    match err {
        EtcdError::GRpcStatus(status) => match status.code() {
            Code::InvalidArgument => status.message().contains("request is too large"),
            Code::ResourceExhausted => status.message().contains("larger than max"),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Status;

    fn kind(err: &StoreError) -> &'static str {
        match err {
            StoreError::Unavailable { .. } => "unavailable",
            StoreError::Internal { .. } => "internal",
            _ => "other",
        }
    }

    #[test]
    fn unavailable_and_deadline_statuses_are_retryable() {
        let unavailable = from_etcd(
            "put",
            EtcdError::GRpcStatus(Status::unavailable("etcdserver: no leader")),
        );
        let deadline = from_etcd(
            "put",
            EtcdError::GRpcStatus(Status::deadline_exceeded("timeout")),
        );
        assert_eq!(
            (kind(&unavailable), kind(&deadline)),
            ("unavailable", "unavailable")
        );
    }

    #[test]
    fn too_many_requests_is_retryable() {
        let err = from_etcd(
            "put",
            EtcdError::GRpcStatus(Status::resource_exhausted("etcdserver: too many requests")),
        );
        assert_eq!(kind(&err), "unavailable");
    }

    #[test]
    fn permission_denied_is_not_retryable() {
        let err = from_etcd(
            "get",
            EtcdError::GRpcStatus(Status::permission_denied("etcdserver: permission denied")),
        );
        assert_eq!(kind(&err), "internal");
    }

    #[test]
    fn both_size_refusals_are_recognised() {
        let etcd =
            EtcdError::GRpcStatus(Status::invalid_argument("etcdserver: request is too large"));
        let grpc = EtcdError::GRpcStatus(Status::resource_exhausted(
            "grpc: received message larger than max (3145778 vs. 2097152)",
        ));
        let other =
            EtcdError::GRpcStatus(Status::invalid_argument("etcdserver: key is not provided"));
        assert_eq!(
            (
                is_too_large(&etcd),
                is_too_large(&grpc),
                is_too_large(&other)
            ),
            (true, true, false)
        );
    }

    #[tokio::test]
    async fn a_request_without_answer_times_out_as_unavailable() {
        let never = std::future::pending::<Result<(), EtcdError>>();
        let err = call(Duration::from_millis(10), || "get x".into(), never)
            .await
            .err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("datastore unavailable: get x: no answer from etcd within 10ms".into())
        );
    }
}
