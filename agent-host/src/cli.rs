//! The `todo-agent` command line: `serve` (default), `migrate` and `token`.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use todo_mcp::{
    auth::{Audience, JwtSecret, TokenKeys},
    db,
};
use todo_migrations::{HostMigrator, TaskMigrator};

use crate::{accounts::AccountStore, app::App, config::Config, limits::Limits};

/// Where developer mode keeps its generated `JWT_SECRET`.
const DEV_SECRET_PATH: &str = "data/jwt_secret";

/// Todo Agent: your to-do list, an assistant and an MCP server on one port.
#[derive(Debug, clap::Parser)]
#[command(name = "todo-agent", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the web API and /mcp (the default).
    Serve,
    /// Create or update all tables, then exit.
    Migrate,
    /// Print an MCP access token (audience todo-mcp) for an existing account.
    Token {
        /// The account's email.
        #[arg(long)]
        email: String,
        /// How many days the token is valid.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=365))]
        days: u16,
    },
}

/// Runs one command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    crate::telemetry::init(&config.log_filter, config.mode.log_format());
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let db = db::connect_for_migrations(&config.database_url).await?;
            todo_migrations::up::<TaskMigrator>(&db)
                .await
                .context("run the task migrations")?;
            todo_migrations::up::<HostMigrator>(&db)
                .await
                .context("run the host migrations")?;
            tracing::info!(database = %config.database_url, "all tables are up to date");
            Ok(())
        }
        Command::Token { email, days } => {
            let secret = jwt_secret(&config)?;
            let db = db::connect_for_migrations(&config.database_url).await?;
            todo_migrations::up::<HostMigrator>(&db)
                .await
                .context("run the host migrations")?;
            let account = AccountStore::new(db, Limits::new(&config.abuse))
                .get_by_email(&email)
                .await
                .with_context(|| format!("no account with email {email:?}; sign up first"))?;
            let token = TokenKeys::new(&secret)
                .issue(
                    account.id,
                    Audience::Mcp,
                    chrono::Duration::days(i64::from(days)),
                )
                .context("sign the token")?;
            print_token(&token.token)?;
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Listening for signals starts first: a SIGTERM at any later moment is a clean shutdown.
    let shutdown = todo_mcp::cli::shutdown_signal();
    let server = App::bind(&config).await?;
    let url = config.public_base_url(server.local_addr().unwrap_or(config.bind));
    tracing::info!(mode = ?config.mode, "Todo Agent is running at {url} (API docs at {url}api/docs)");
    let secret = jwt_secret(&config)?;
    let app = App::build(&config, &secret, server).await?;
    if let Some(metrics) = app.metrics_addr() {
        tracing::info!("metrics at http://{metrics}/metrics");
    }
    tracing::info!(
        database = %config.database_url,
        tasks = config.mcp_tasks_url.as_ref().map_or("embedded", |url| url.as_str()),
        "ready"
    );
    app.run_until_stopped(shutdown)
        .await
        .context("serve HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

/// `JWT_SECRET`, or in developer mode the generated one kept in `./data/jwt_secret`.
fn jwt_secret(config: &Config) -> anyhow::Result<JwtSecret> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    anyhow::ensure!(
        config.security().generate_missing_secret,
        "JWT_SECRET is not set"
    );
    load_or_create_secret(Path::new(DEV_SECRET_PATH))
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<JwtSecret> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        return JwtSecret::new(existing.trim().as_bytes().to_vec())
            .with_context(|| format!("the developer secret in {}", path.display()));
    }
    let mut bytes = [0u8; 32];
    argon2::password_hash::rand_core::RngCore::fill_bytes(
        &mut argon2::password_hash::rand_core::OsRng,
        &mut bytes,
    );
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    write_private_file(path, &hex)
        .with_context(|| format!("keep the generated JWT secret in {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a JWT secret for developer mode");
    Ok(JwtSecret::new(hex.into_bytes())?)
}

/// Writes a new file readable by its owner only (mode 0600 on Unix).
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(PathBuf::from(path))?;
    file.write_all(contents.as_bytes())
}

#[expect(clippy::print_stdout, reason = "the token is this command's output")]
fn print_token(token: &str) -> anyhow::Result<()> {
    println!("{token}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_developer_secret_is_created_once_and_private() {
        let dir = tempfile_dir();
        let path = dir.join("data/jwt_secret");
        load_or_create_secret(&path).unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        load_or_create_secret(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        assert_eq!(first.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("todo-agent-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
