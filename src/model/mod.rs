//! The tables chatsynth fills, their columns in the order the generators write
//! them, and the types those columns must have in the target schema (the
//! preflight compares the target's catalog with this); and, in [`run`], the
//! words a run is described by (command, outcome, verdict).

pub mod run;

pub use run::{Command, Outcome, Verdict};

/// The seven tables, in foreign-key load order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Users = 0,
    Conversations = 1,
    ConversationUsers = 2,
    Messages = 3,
    Attachments = 4,
    MessageReads = 5,
    MessageReceipts = 6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Text,
    Bool,
    Int4,
    Timestamp,
    Jsonb,
    /// A PostgreSQL enum type named like the Prisma enum, with the labels the generator writes.
    Enum(&'static str, &'static [&'static str]),
}

impl ColType {
    /// What `format_type()` reports for a matching column (enums: checked by name).
    pub fn sql(&self) -> &'static str {
        match self {
            ColType::Text => "text",
            ColType::Bool => "boolean",
            ColType::Int4 => "integer",
            ColType::Timestamp => "timestamp(3) without time zone",
            ColType::Jsonb => "jsonb",
            ColType::Enum(name, _) => name,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
}

const fn col(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        nullable: false,
    }
}

const fn opt(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        nullable: true,
    }
}

use ColType::*;

pub(crate) const CONVERSATION_TYPE: ColType = Enum(
    "ConversationType",
    &["DIRECT_MESSAGE", "GROUP_CHAT", "CHANNEL"],
);
pub(crate) const CONVERSATION_ROLE: ColType =
    Enum("ConversationRole", &["MEMBER", "ADMIN", "OWNER"]);
pub(crate) const MESSAGE_TYPE: ColType = Enum(
    "MessageType",
    &[
        "TEXT", "IMAGE", "FILE", "AUDIO", "VIDEO", "LOCATION", "SYSTEM",
    ],
);
pub(crate) const MESSAGE_STATUS: ColType =
    Enum("MessageStatus", &["SENT", "DELIVERED", "READ", "DELETED"]);
pub(crate) const RECEIPT_STATE: ColType = Enum("MessageReceiptState", &["DELIVERED", "READ"]);
pub(crate) const ATTACHMENT_TYPE: ColType =
    Enum("AttachmentType", &["IMAGE", "VIDEO", "AUDIO", "DOCUMENT"]);
pub(crate) const VISIBILITY: ColType = Enum(
    "VisibilityType",
    &[
        "PUBLIC",
        "CONNECTIONS_ONLY",
        "CLOSE_FRIENDS_ONLY",
        "PRIVATE",
    ],
);

const USERS: &[Column] = &[
    col("id", Text),
    col("email", Text),
    col("username", Text),
    opt("firstName", Text),
    opt("lastName", Text),
    opt("bio", Text),
    opt("profileImageUrl", Text),
    col("isActive", Bool),
    col("anonymousPostsToday", Int4),
    col("weeklyPushesUsed", Int4),
    opt("lastAnonymousPostDate", Timestamp),
    col("lastWeeklyReset", Timestamp),
    col("allowDirectMessages", Bool),
    col("showOnlineStatus", Bool),
    col("profileVisibility", VISIBILITY),
    col("isOnline", Bool),
    opt("lastSeenAt", Timestamp),
    opt("typingIn", Text),
    opt("lastLoginAt", Timestamp),
    col("createdAt", Timestamp),
    col("updatedAt", Timestamp),
];

const CONVERSATIONS: &[Column] = &[
    col("id", Text),
    opt("name", Text),
    opt("description", Text),
    col("type", CONVERSATION_TYPE),
    opt("avatarUrl", Text),
    col("isActive", Bool),
    col("allowMemberAdd", Bool),
    col("allowFileSharing", Bool),
    opt("maxMembers", Int4),
    opt("lastMessageAt", Timestamp),
    opt("lastMessageId", Text),
    col("creatorId", Text),
    col("createdAt", Timestamp),
    col("updatedAt", Timestamp),
];

const CONVERSATION_USERS: &[Column] = &[
    col("id", Text),
    col("role", CONVERSATION_ROLE),
    col("isActive", Bool),
    col("isMuted", Bool),
    opt("mutedUntil", Timestamp),
    col("joinedAt", Timestamp),
    opt("leftAt", Timestamp),
    opt("lastReadAt", Timestamp),
    opt("lastReadMessageId", Text),
    col("userId", Text),
    col("conversationId", Text),
    col("createdAt", Timestamp),
    col("updatedAt", Timestamp),
];

const MESSAGES: &[Column] = &[
    col("id", Text),
    opt("content", Text),
    col("type", MESSAGE_TYPE),
    col("status", MESSAGE_STATUS),
    col("isEdited", Bool),
    opt("editedAt", Timestamp),
    col("isDeleted", Bool),
    opt("deletedAt", Timestamp),
    opt("replyToId", Text),
    opt("threadId", Text),
    opt("metadata", Jsonb),
    col("idempotencyKey", Text),
    opt("correlationId", Text),
    col("senderId", Text),
    col("conversationId", Text),
    col("createdAt", Timestamp),
    col("updatedAt", Timestamp),
];

const ATTACHMENTS: &[Column] = &[
    col("id", Text),
    col("filename", Text),
    col("originalName", Text),
    col("mimeType", Text),
    col("size", Int4),
    col("url", Text),
    opt("thumbnailUrl", Text),
    col("type", ATTACHMENT_TYPE),
    opt("width", Int4),
    opt("height", Int4),
    opt("duration", Int4),
    col("uploaderId", Text),
    opt("messageId", Text),
    col("createdAt", Timestamp),
    col("updatedAt", Timestamp),
];

const MESSAGE_READS: &[Column] = &[
    col("id", Text),
    col("readAt", Timestamp),
    col("userId", Text),
    col("messageId", Text),
    col("createdAt", Timestamp),
    col("updatedAt", Timestamp),
];

const MESSAGE_RECEIPTS: &[Column] = &[
    col("id", Text),
    col("state", RECEIPT_STATE),
    col("timestamp", Timestamp),
    col("messageId", Text),
    col("userId", Text),
    col("createdAt", Timestamp),
    col("updatedAt", Timestamp),
];

impl Table {
    pub const ALL: [Table; 7] = [
        Table::Users,
        Table::Conversations,
        Table::ConversationUsers,
        Table::Messages,
        Table::Attachments,
        Table::MessageReads,
        Table::MessageReceipts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Conversations => "conversations",
            Table::ConversationUsers => "conversation_users",
            Table::Messages => "messages",
            Table::Attachments => "attachments",
            Table::MessageReads => "message_reads",
            Table::MessageReceipts => "message_receipts",
        }
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Users => USERS,
            Table::Conversations => CONVERSATIONS,
            Table::ConversationUsers => CONVERSATION_USERS,
            Table::Messages => MESSAGES,
            Table::Attachments => ATTACHMENTS,
            Table::MessageReads => MESSAGE_READS,
            Table::MessageReceipts => MESSAGE_RECEIPTS,
        }
    }

    /// Number of fields in a row, as the PGCOPY row header wants it.
    pub(crate) fn width(self) -> i16 {
        self.columns().len() as i16
    }

    /// `COPY "schema"."table" ("col", ...) FROM STDIN (FORMAT binary)`.
    pub fn copy_sql(self, schema: &str) -> String {
        self.copy_sql_with(schema, &[])
    }

    /// As [`Table::copy_sql`], with `extra` columns (the config's column
    /// rules) after the built-in ones.
    pub fn copy_sql_with(self, schema: &str, extra: &[String]) -> String {
        let cols: Vec<String> = self
            .columns()
            .iter()
            .map(|c| c.name)
            .chain(extra.iter().map(|s| s.as_str()))
            .map(crate::db::quote_ident)
            .collect();
        format!(
            "COPY {}.{} ({}) FROM STDIN (FORMAT binary)",
            crate::db::quote_ident(schema),
            crate::db::quote_ident(self.name()),
            cols.join(", ")
        )
    }
}

/// One value per table, indexed by [`Table`] (in place of arrays sized by a bare 7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PerTable<T>([T; 7]);

impl<T> PerTable<T> {
    /// Each table's value from `f(table)`.
    pub(crate) fn from_fn(mut f: impl FnMut(Table) -> T) -> Self {
        PerTable(std::array::from_fn(|i| f(Table::ALL[i])))
    }

    /// The values in [`Table::ALL`]'s order (for constant tables).
    pub(crate) const fn from_array(values: [T; 7]) -> Self {
        PerTable(values)
    }
}

impl<T> std::ops::Index<Table> for PerTable<T> {
    type Output = T;
    #[inline]
    fn index(&self, t: Table) -> &T {
        &self.0[t as usize]
    }
}

impl<T> std::ops::IndexMut<Table> for PerTable<T> {
    #[inline]
    fn index_mut(&mut self, t: Table) -> &mut T {
        &mut self.0[t as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sql_quotes_everything() {
        let s = Table::MessageReads.copy_sql("my schema");
        assert_eq!(
            s,
            "COPY \"my schema\".\"message_reads\" (\"id\", \"readAt\", \"userId\", \"messageId\", \"createdAt\", \"updatedAt\") FROM STDIN (FORMAT binary)"
        );
    }
}
