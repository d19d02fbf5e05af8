//! Privileges: what the connected role needs to create the staging schema and
//! replace the chat tables (read from the catalog, reported all at once).

use tokio_postgres::GenericClient;

use super::table_names;
use crate::error::{DbContext, Result};

const CATALOG_PRIVILEGES_SQL: &str = include_str!("../../sql/catalog/privileges.sql");

/// What the connected role lacks to create the staging schema and replace the tables.
pub(crate) async fn privilege_problems(
    client: &impl GenericClient,
    schema: &str,
) -> Result<Vec<String>> {
    let rows = client
        .query(CATALOG_PRIVILEGES_SQL, &[&schema, &table_names()])
        .await
        .step("checking privileges")?;
    let mut problems = Vec::new();
    for r in rows {
        let (what, name, ok): (String, String, bool) = (r.get(0), r.get(1), r.get(2));
        if !ok {
            problems.push(match what.as_str() {
                "database" => format!(
                    "the role cannot CREATE schemas in database {name} (needed for the staging schema)"
                ),
                "schema" => format!("the role cannot CREATE in schema {name}"),
                _ => format!("the role does not own table {schema}.{name}, so it cannot replace it"),
            });
        }
    }
    Ok(problems)
}
