//! `runbook web`: a local web server over the state directory (a folder or S3), read-only
//! towards AWS and the runs. `/` lists the runs by class, `/runs/ID` shows one (what it built
//! and which stack Route 53 answers with now, its steps, drill and exercises, the commands to go
//! on), `/class/NAME` is a class's board, and `/site/DOMAIN/` stands in for the internet for
//! labs on the emulator: it answers as a visitor of the domain would be answered now.
//!
//! On anything but loopback every page needs the token printed at start (in the URL once; a
//! cookie keeps it for the pages after).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value as Json, json};

use super::settings::{Settings, Web};
use super::state::{self, journal_error};
use super::target::{self, Recorded};
use crate::engine::state::RunState;
use crate::engine::store::{Listed, Store};
use crate::error::{Error, Exit};
use crate::ui::{self, Format};

/// What every handler shares.
struct Shared {
    settings: Settings,
    store: Arc<dyn Store>,
    /// The token every request must carry, when the server listens beyond loopback.
    token: Option<String>,
}

const COOKIE: &str = "runbook_token";
/// How long the stand-in and the run page wait for AWS before they say they could not tell.
const LOOK: Duration = Duration::from_secs(10);

/// Serve until interrupted. Prints the address (with the token, where one is needed) on stdout.
pub fn serve(settings: &Settings, web: &Web) -> Result<Exit, Error> {
    let addr: SocketAddr = web.listen.parse().map_err(|_| {
        Error::usage(
            format!("`--listen {}` is not an address and port", web.listen),
            "write it like 127.0.0.1:8080 (0 as the port picks a free one)",
        )
    })?;
    let token = match (&web.token, addr.ip().is_loopback()) {
        (Some(t), _) => Some(t.clone()),
        (None, true) => None,
        (None, false) => Some(new_token()?),
    };
    let store = state::open(settings)?;
    let shared = Arc::new(Shared {
        settings: settings.clone(),
        store,
        token,
    });
    let app = Router::new()
        .route("/", get(index))
        .route("/runs/{id}", get(run))
        .route("/class/{name}", get(class))
        .route("/site/{domain}", get(site))
        .route("/site/{domain}/", get(site))
        .route("/site/{domain}/{*rest}", get(site_path))
        .layer(middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared.clone());
    let interrupt = tokio_util::sync::CancellationToken::new();
    let rt = super::session::runtime(&interrupt);
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::usage(
                format!("cannot listen on {addr}: {e}"),
                "choose another address or port with --listen",
            )
        })?;
        let local = listener.local_addr().map_err(|e| {
            Error::runtime(
                format!("cannot tell the address listened on: {e}"),
                "try again",
            )
        })?;
        let query = shared
            .token
            .as_ref()
            .map(|t| format!("?token={t}"))
            .unwrap_or_default();
        // The one line a script reads: where the pages are.
        ui::output_raw(&format!("http://{local}/{query}\n"))?;
        ui::note!(
            "Serving the runs in `{}`, read-only; Ctrl-C stops it.",
            shared.store.location()
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(interrupt.cancelled_owned())
            .await
            .map_err(|e| Error::runtime(format!("the web server stopped: {e}"), "start it again"))
    })?;
    Ok(Exit::Success)
}

/// A token nobody can guess: 128 bits of the operating system's randomness, as hex.
fn new_token() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::runtime(
            format!("no randomness for the token: {e}"),
            "give one with --token (or RUNBOOK_WEB_TOKEN)",
        )
    })?;
    Ok(bytes.iter().fold(String::new(), |mut out, b| {
        out.push_str(&format!("{b:02x}"));
        out
    }))
}

/// Every request carries the token when one is needed: in the URL (then kept in a cookie) or in
/// the cookie; otherwise 401 and a page that says what is missing.
async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let Some(token) = &shared.token else {
        return next.run(request).await;
    };
    let in_url = request
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .any(|pair| pair.strip_prefix("token=") == Some(token.as_str()));
    let in_cookie = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| {
            c.trim()
                .strip_prefix(COOKIE)
                .and_then(|c| c.strip_prefix('='))
                == Some(token)
        });
    if !in_url && !in_cookie {
        let page = ui::web::page("denied.html", &json!({"location": ""}));
        return (StatusCode::UNAUTHORIZED, Html(page)).into_response();
    }
    let mut response = next.run(request).await;
    if in_url {
        if let Ok(cookie) = HeaderValue::from_str(&format!(
            "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
        )) {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
    }
    response
}

/// Read the store off the async threads (an S3 store makes its own calls).
async fn with_store<T: Send + 'static>(
    shared: &Arc<Shared>,
    read: impl FnOnce(&dyn Store) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || read(shared.store.as_ref()))
        .await
        .map_err(|e| Error::runtime(format!("reading the runs failed: {e}"), "try again"))?
}

/// Where the runs are read from, as people name it.
fn location_of(shared: &Arc<Shared>) -> String {
    shared.store.location()
}

/// A page, or the error that kept it from being drawn (500, the message on the page).
fn html(result: Result<(StatusCode, String), Error>) -> Response {
    match result {
        Ok((status, page)) => (status, Html(page)).into_response(),
        Err(e) => {
            let (message, help) = e.describe();
            let page = ui::web::page(
                "problem.html",
                &json!({"location": "", "title": "This page could not be read", "message": message, "help": help}),
            );
            (StatusCode::INTERNAL_SERVER_ERROR, Html(page)).into_response()
        }
    }
}

async fn index(State(shared): State<Arc<Shared>>) -> Response {
    html(
        with_store(&shared, |store| {
            let all = store.list().map_err(journal_error)?;
            Ok(index_page(store, &all))
        })
        .await,
    )
}

/// `/`: the runs as `runbook runs` lists them, grouped by class, newest first, each with where
/// it ran and its drill.
fn index_page(store: &dyn Store, all: &[Listed]) -> (StatusCode, String) {
    let drivers: BTreeMap<String, String> = all
        .iter()
        .filter(|(_, s)| s.as_ref().is_ok_and(|s| s.status.is_none()))
        .filter_map(|(id, _)| store.driver(id).map(|d| (id.clone(), d)))
        .collect();
    let rows: Json = serde_json::from_str(&ui::runs::list(
        &store.location(),
        all,
        &drivers,
        None,
        Format::Json,
    ))
    .unwrap_or_default();
    let mut groups: Vec<(Option<String>, Vec<Json>)> = Vec::new();
    for mut row in rows
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .rev()
    {
        let id = row["run_id"].as_str().unwrap_or_default().to_owned();
        if let Some(Ok(state)) = all.iter().find(|(i, _)| *i == id).map(|(_, s)| s) {
            row["where"] = json!(where_of(state));
            row["drill"] = drill_json(state);
        }
        row["driver"] = json!(drivers.get(&id));
        let class = row["class"].as_str().map(str::to_owned);
        match groups.iter_mut().find(|(c, _)| *c == class) {
            Some((_, runs)) => runs.push(row),
            None => groups.push((class, vec![row])),
        }
    }
    let groups: Vec<Json> = groups
        .into_iter()
        .map(|(class, runs)| json!({"class": class, "runs": runs}))
        .collect();
    let data = json!({"location": store.location(), "live": true, "groups": groups});
    (StatusCode::OK, ui::web::page("index.html", &data))
}

/// Where a run acted, in words (`account 1234… in ap-south-1`), when it used AWS.
fn where_of(state: &RunState) -> Option<String> {
    target::state_uses_aws(state).then(|| Recorded::of(state).describe())
}

fn drill_json(state: &RunState) -> Json {
    super::runs::drill_of(state).map_or(Json::Null, |d| {
        json!({
            "failover_seconds": d.failover_seconds,
            "failback_seconds": d.failback_seconds,
            "passed": d.passed,
            "failure": d.failure,
        })
    })
}

async fn run(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let read = with_store(&shared, {
        let id = id.clone();
        move |store| {
            if !store.exists(&id).map_err(journal_error)? {
                return Ok(None);
            }
            let entries = store.read(&id).map_err(journal_error)?;
            Ok(Some((RunState::from_entries(&entries), store.location())))
        }
    })
    .await;
    let (state, location) = match read {
        Ok(Some(found)) => found,
        Ok(None) => {
            return html(Ok((
                StatusCode::NOT_FOUND,
                ui::web::page(
                    "problem.html",
                    &json!({"location": location_of(&shared), "title": format!("No run {id}"),
                            "message": format!("There is no run `{id}` in `{}`.", location_of(&shared)),
                            "help": "the list of runs is on the first page"}),
                ),
            )));
        }
        Err(e) => return html(Err(e)),
    };
    let answer = match domain_of(&state) {
        Some(domain) if target::state_uses_aws(&state) => {
            Some(answer_now(&shared.settings, &state, &domain).await)
        }
        _ => None,
    };
    html(Ok((
        StatusCode::OK,
        run_page(&shared.settings, &state, &location, answer.as_ref()),
    )))
}

/// The domain a failover run serves (its `domain` var), if it has one.
fn domain_of(state: &RunState) -> Option<String> {
    state
        .vars
        .get("domain")
        .and_then(Json::as_str)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
}

/// Which record Route 53 answers the run's domain with now, read through the run's own target
/// with clients that refuse every call that is not a read.
async fn answer_now(settings: &Settings, state: &RunState, domain: &str) -> Json {
    let emulated = Recorded::of(state).emulated;
    let visit = async {
        let target = target::Target {
            read_only: true,
            ..target::of_run(settings, state)
        };
        let clients = crate::actions::aws::client::for_settings(&target).await?;
        crate::actions::aws::site::visit(clients, domain).await
    };
    match tokio::time::timeout(LOOK, visit).await {
        Ok(Ok(Some(v))) => json!({
            "domain": domain,
            "record": v.record,
            "reason": v.reason,
            "load_balancer": v.load_balancer,
            "site": emulated.then(|| format!("/site/{domain}/")),
        }),
        Ok(Ok(None)) => {
            json!({"domain": domain, "error": format!("no hosted zone answers for {domain} with a load balancer")})
        }
        Ok(Err(e)) => json!({"domain": domain, "error": e.message}),
        Err(_) => {
            json!({"domain": domain, "error": format!("AWS did not answer within {} s", LOOK.as_secs())})
        }
    }
}

/// A card's resources with each kind's together (the two subnets, the two security groups), in
/// the order the run first made each kind.
fn by_kind(mut items: Vec<Json>) -> Vec<Json> {
    let mut kinds: Vec<Json> = Vec::new();
    for item in &items {
        if !kinds.contains(&item["kind"]) {
            kinds.push(item["kind"].clone());
        }
    }
    items.sort_by_key(|item| kinds.iter().position(|k| *k == item["kind"]));
    items
}

/// `/runs/ID`: what the run built, by stack (a module's steps) and DNS, which stack answers now,
/// its drill, exercises and steps, and the commands to go on, as `show` writes them.
fn run_page(
    settings: &Settings,
    state: &RunState,
    location: &str,
    answer: Option<&Json>,
) -> String {
    let drill = super::runs::drill_of(state);
    let place = where_of(state);
    let shown: Json = serde_json::from_str(&ui::runs::show(
        &state.run_id,
        state,
        &ui::runs::About {
            place: place.as_deref(),
            drill: drill.as_ref(),
            ..ui::runs::About::default()
        },
        None,
        Format::Json,
    ))
    .unwrap_or_default();
    let answering = answer
        .and_then(|a| a["load_balancer"].as_str())
        .map(str::to_owned);
    let mut stacks: Vec<(String, Vec<Json>)> = Vec::new();
    let mut zone = Vec::new();
    for r in shown["alive"].as_array().into_iter().flatten() {
        let step = r["step"].as_str().unwrap_or_default();
        let kind = r["kind"].as_str().unwrap_or_default();
        let id = r["id"].as_str().unwrap_or_default();
        let item = json!({"kind": kind, "name": short(id)});
        match step.split_once('.') {
            Some((stack, _)) => match stacks.iter_mut().find(|(s, _)| s == stack) {
                Some((_, items)) => items.push(item),
                None => stacks.push((stack.to_owned(), vec![item])),
            },
            None => zone.push(item),
        }
    }
    let zone = by_kind(zone);
    let stacks: Vec<Json> = stacks
        .into_iter()
        .map(|(name, resources)| {
            let answers = answering.as_ref().is_some_and(|lb| {
                resources
                    .iter()
                    .any(|r| r["kind"] == "load balancer" && r["name"] == lb.as_str())
            });
            json!({"name": name, "resources": by_kind(resources), "answering": answers})
        })
        .collect();
    let drill = drill.map(|d| {
        let longest = d
            .timeline
            .iter()
            .filter_map(|m| m.after_stop_seconds)
            .fold(1.0_f64, f64::max);
        let timeline: Vec<Json> = d
            .timeline
            .iter()
            .map(|m| {
                json!({"name": m.name, "at": m.at, "after_stop_seconds": m.after_stop_seconds,
                       "words": ui::runs::moment_words(m.name)})
            })
            .collect();
        json!({"headline": d.headline(), "passed": d.passed, "timeline": timeline, "longest": longest})
    });
    // A run the runbook did by itself has no learner's progress to show.
    let exercises: Vec<Json> = state
        .exercise_progress()
        .into_iter()
        .filter(|_| state.is_learners())
        .map(|(step, s)| json!({"step": step, "state": s}))
        .collect();
    let id = &state.run_id;
    let mut commands = vec![
        json!({"what": "show it in the terminal", "line": settings.command(&format!("show {id}"))}),
    ];
    if matches!(
        shown["status"].as_str(),
        Some("unfinished" | "interrupted" | "failed" | "paused")
    ) {
        commands.push(json!({"what": "go on", "line": settings.command(&format!("resume {id}"))}));
    }
    if shown["alive"].as_array().is_some_and(|a| !a.is_empty()) {
        commands.push(json!({"what": "remove what it made", "line": settings.command(&format!("rollback {id}"))}));
    }
    let data = json!({
        "location": location,
        "live": true,
        "run": shown,
        "place": place,
        "answer": answer,
        "stacks": stacks,
        "zone": zone,
        "drill": drill,
        "exercises": exercises,
        "commands": commands,
    });
    ui::web::page("run.html", &data)
}

/// A resource's id as people name it: an ARN's name (`lab-primary-alb`), else the id.
fn short(id: &str) -> String {
    if !id.starts_with("arn:") {
        return id.to_owned();
    }
    let path: Vec<&str> = id.rsplit(':').next().unwrap_or(id).split('/').collect();
    match path.as_slice() {
        // loadbalancer/app/NAME/ID, listener/app/NAME/ID/ID, targetgroup/NAME/ID
        ["loadbalancer" | "listener", _, name, ..] | ["targetgroup", name, ..] => {
            (*name).to_owned()
        }
        _ => id.to_owned(),
    }
}

async fn class(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    html(
        with_store(&shared, move |store| {
            let all = store.list().map_err(journal_error)?;
            Ok(class_page(store, &all, &name))
        })
        .await,
    )
}

/// `/class/NAME`: a tile per student (their newest run in the class): how far it came, its
/// exercises, its drill, what is alive.
fn class_page(store: &dyn Store, all: &[Listed], name: &str) -> (StatusCode, String) {
    let rows: Json = serde_json::from_str(&ui::runs::list(
        &store.location(),
        all,
        &BTreeMap::new(),
        None,
        Format::Json,
    ))
    .unwrap_or_default();
    let mut newest: BTreeMap<String, Json> = BTreeMap::new();
    for row in rows.as_array().into_iter().flatten() {
        if row["class"] != name {
            continue;
        }
        let student = row["student"].as_str().unwrap_or("?").to_owned();
        newest.insert(student, row.clone());
    }
    let tiles: Vec<Json> = newest
        .into_iter()
        .map(|(student, row)| {
            let id = row["run_id"].as_str().unwrap_or_default();
            let state = all
                .iter()
                .find(|(i, _)| i == id)
                .and_then(|(_, s)| s.as_ref().ok());
            let count = |which: &str| {
                row["exercises"]
                    .as_array()
                    .map_or(0, |e| e.iter().filter(|x| x["state"] == which).count())
            };
            let status = row["status"].as_str().unwrap_or_default();
            let words = match status {
                "succeeded" => "set up".to_owned(),
                "paused" => "paused at an exercise".to_owned(),
                other => other.to_owned(),
            };
            json!({
                "student": student,
                "run_id": id,
                "status": status,
                "state": words,
                "steps_done": row["steps_done"],
                "steps": row["steps"],
                "alive": row["alive"],
                "exercises": row["exercises"].as_array().is_some_and(|e| !e.is_empty()),
                "by_hand": count("by_hand"),
                "solved": count("solved"),
                "open": count("open"),
                "drill": state.map_or(Json::Null, drill_json),
            })
        })
        .collect();
    let status = if tiles.is_empty() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let data = json!({"location": store.location(), "live": true, "class": name, "tiles": tiles});
    (status, ui::web::page("class.html", &data))
}

async fn site_path(
    state: State<Arc<Shared>>,
    Path((domain, _)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Response {
    site(state, Path(domain), headers).await
}

/// What the web server (or the load balancer, with no healthy target) answers, alone.
fn bare_page(visit: &crate::actions::aws::site::Visit) -> String {
    match &visit.served {
        Some(served) => served.page.clone().unwrap_or_else(|| {
            format!("instance {} declares no page\n", served.instance_id)
        }),
        None => "<html><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>\n"
            .to_owned(),
    }
}

/// `/site/DOMAIN/`: the lab's stand-in for the internet, for labs on the emulator: the page a
/// visitor would get now (503 when the chosen load balancer has no healthy target). A browser
/// (asking for HTML) gets a banner above the page saying what this stands in for; any other
/// client (a `check.http` step) gets the page alone, as the web server would serve it, so that
/// the banner's words never satisfy a check.
async fn site(
    State(shared): State<Arc<Shared>>,
    Path(domain): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let domain = domain.trim_end_matches('.').to_lowercase();
    let settings = shared.settings.clone();
    let lab = with_store(&shared, {
        let domain = domain.clone();
        move |store| {
            let all = store.list().map_err(journal_error)?;
            Ok(all
                .into_iter()
                .rev()
                .filter_map(|(_, s)| s.ok())
                .find(|s| domain_of(s).is_some_and(|d| d.trim_end_matches('.') == domain)))
        }
    })
    .await;
    let plain = |status: StatusCode, text: String| (status, text).into_response();
    let target = match lab {
        Err(e) => return html(Err(e)),
        Ok(Some(state)) if !Recorded::of(&state).emulated => {
            return plain(
                StatusCode::NOT_FOUND,
                format!("{domain} is served on AWS, not by this stand-in: open http://{domain}/\n"),
            );
        }
        Ok(Some(state)) => target::of_run(&settings, &state),
        Ok(None) if settings.endpoint_url.is_some() => target::command_line(&settings),
        Ok(None) => {
            return plain(
                StatusCode::NOT_FOUND,
                format!(
                    "No lab on the emulator serves {domain} in `{}`.\n",
                    shared.store.location()
                ),
            );
        }
    };
    let target = target::Target {
        read_only: true,
        ..target
    };
    let visit = async {
        let clients = crate::actions::aws::client::for_settings(&target).await?;
        crate::actions::aws::site::visit(clients, &domain).await
    };
    match tokio::time::timeout(LOOK, visit).await {
        Ok(Ok(Some(visit))) => {
            let status = if visit.served.is_some() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let page = if browser {
                ui::web::page("site.html", &json!({"domain": domain, "visit": visit}))
            } else {
                bare_page(&visit)
            };
            let mut response = (status, Html(page)).into_response();
            response.headers_mut().insert(
                "x-runbook-stand-in",
                HeaderValue::from_static("the lab's stand-in for the internet (runbook web)"),
            );
            response
        }
        Ok(Ok(None)) => plain(
            StatusCode::NOT_FOUND,
            format!("No hosted zone on the emulator answers for {domain} with a load balancer.\n"),
        ),
        Ok(Err(e)) => plain(
            StatusCode::BAD_GATEWAY,
            format!("The emulator could not be read: {}\n", e.message),
        ),
        Err(_) => plain(
            StatusCode::GATEWAY_TIMEOUT,
            format!("The emulator did not answer within {} s.\n", LOOK.as_secs()),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn arns_are_shown_by_their_names() {
        assert_eq!(
            super::short(
                "arn:aws:elasticloadbalancing:ap-south-1:1:loadbalancer/app/lab-primary-alb/4da7"
            ),
            "lab-primary-alb"
        );
        assert_eq!(
            super::short("arn:aws:elasticloadbalancing:ap-south-1:1:targetgroup/lab-tg/1c76"),
            "lab-tg"
        );
        assert_eq!(super::short("vpc-1"), "vpc-1");
    }

    #[test]
    fn a_token_is_long_and_never_the_same() {
        let (a, b) = (super::new_token().unwrap(), super::new_token().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
