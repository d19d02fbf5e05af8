//! The bench's connections: the admin URL, parsed by tokio-postgres, and the
//! scratch databases made on its server (`chatsynth_bench_<pid>_*`), all
//! dropped at the end. No message shows the URL's password.

use std::str::FromStr;

use tokio_postgres::{Client, Config, NoTls};

use crate::R;

/// The admin connection and the URLs of scratch databases beside it.
pub struct Server {
    url: String,
    config: Config,
}

impl Server {
    pub fn parse(url: &str) -> R<Server> {
        let config = Config::from_str(url).map_err(|e| format!("--database-url: {e}"))?;
        Ok(Server {
            url: url.to_string(),
            config,
        })
    }

    /// URL of database `db` on this server, for `chatsynth --database-url`.
    pub fn url_of(&self, db: &str) -> R<String> {
        Ok(chatsynth::db::url_with_dbname(&self.url, db)?)
    }

    pub async fn connect_admin(&self) -> R<Client> {
        connect(self.config.clone()).await
    }

    pub async fn connect_to(&self, db: &str) -> R<Client> {
        let mut config = self.config.clone();
        config.dbname(db);
        connect(config).await
    }
}

async fn connect(config: Config) -> R<Client> {
    let (client, conn) = config.connect(NoTls).await.map_err(|e| {
        format!(
            "cannot connect to {}: {e}",
            chatsynth::db::describe(&config)
        )
    })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// A `--database-url` value as it may be shown: through chatsynth's own redaction.
pub fn shown_url(url: &str) -> String {
    chatsynth::db::Target::from_url(url, "public", None)
        .map_or_else(|_| "<url>".into(), |t| t.display)
}

pub fn pg_err(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string())
}

pub fn q(id: &str) -> String {
    chatsynth::db::quote_ident(id)
}

/// Scratch databases of this run; all dropped at the end.
pub struct Scratch {
    pub admin: Client,
    made: Vec<String>,
}

impl Scratch {
    pub fn new(admin: Client) -> Scratch {
        Scratch {
            admin,
            made: vec![],
        }
    }

    pub async fn fresh(&mut self, tag: &str) -> R<String> {
        let name = format!("chatsynth_bench_{}_{tag}", std::process::id());
        self.drop_db(&name).await?;
        self.admin
            .batch_execute(&format!("CREATE DATABASE {}", q(&name)))
            .await?;
        if !self.made.contains(&name) {
            self.made.push(name.clone());
        }
        Ok(name)
    }

    pub async fn drop_db(&self, name: &str) -> R<()> {
        self.admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", q(name)))
            .await?;
        Ok(())
    }

    pub async fn drop_all(&mut self) {
        for n in std::mem::take(&mut self.made) {
            if let Err(e) = self.drop_db(&n).await {
                eprintln!("warning: could not drop scratch database {n}: {e}");
            }
        }
    }
}
