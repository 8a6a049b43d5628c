//! Calling one function: enforce its auth level, run the handler, turn a panic into a 500.
//! Used by the HTTP path and by `brickbox invoke`, so both behave the same.

use shared::identity::Identity;
use shared::{ApiError, AppState, Auth, Ctx, ErrorCode, Function, Request, Response, Secret};
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub struct Outcome {
    pub result: Result<Response, ApiError>,
    /// The caller's user name, when the identity was resolved.
    pub user: Option<Arc<Identity>>,
}

pub async fn call_function(
    app: &Arc<AppState>,
    function: &'static Function,
    token: Option<Secret>,
    request: Request,
    correlation_id: String,
) -> Outcome {
    let identity = match authorize(app, function.auth, token.as_ref()).await {
        Ok(identity) => identity,
        Err(e) => {
            return Outcome {
                result: Err(e),
                user: None,
            }
        }
    };
    let result = run_handler(
        app,
        function,
        identity.clone(),
        token,
        request,
        correlation_id,
    )
    .await;
    Outcome {
        result,
        user: identity,
    }
}

/// Run the handler of a function whose caller `authorize` has accepted; a panic becomes a 500.
pub async fn run_handler(
    app: &Arc<AppState>,
    function: &'static Function,
    identity: Option<Arc<Identity>>,
    token: Option<Secret>,
    request: Request,
    correlation_id: String,
) -> Result<Response, ApiError> {
    let ctx = Ctx {
        state: Arc::clone(app),
        correlation_id,
        identity,
        token: if function.auth == Auth::Public {
            None
        } else {
            token
        },
    };
    match (CatchUnwind((function.handler)(ctx, request))).await {
        Ok(result) => result,
        Err(panic) => Err(ApiError::internal(format!(
            "function {} panicked: {}",
            function.name,
            panic_message(&panic)
        ))),
    }
}

/// Public: nothing. User: a resolved identity. Admin: a resolved identity in `ADMIN_GROUPS`.
/// Any failure denies (fail secure).
pub async fn authorize(
    app: &Arc<AppState>,
    auth: Auth,
    token: Option<&Secret>,
) -> Result<Option<Arc<Identity>>, ApiError> {
    if auth == Auth::Public {
        return Ok(None);
    }
    let token = token.ok_or_else(|| {
        ApiError::new(
            ErrorCode::AuthMissing,
            "Sign in: this function needs the X-Forwarded-Access-Token header, which the Databricks Apps proxy adds for signed-in users.",
        )
    })?;
    let identity = app
        .identities
        .resolve(&app.databricks, &app.config, token)
        .await?;
    if auth == Auth::Admin && !identity.is_admin {
        return Err(ApiError::new(
            ErrorCode::AdminRequired,
            format!(
                "This function is for administrators: ask to be added to one of these groups: {}.",
                app.config.admin_groups.join(", ")
            ),
        ));
    }
    Ok(Some(identity))
}

/// Polls a boxed future inside `catch_unwind`, so a panicking handler becomes an error value.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}
