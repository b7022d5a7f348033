//! diesel table definitions for the Threads (Prisma) tables Huddle reads.
//!
//! Prisma names tables and columns in quoted camelCase; `sql_name` maps them to Rust names.

#![allow(missing_docs)]

diesel::table! {
    /// `"User"`.
    #[sql_name = "User"]
    users (id) {
        id -> Int4,
        name -> Nullable<Text>,
        avatar -> Nullable<Text>,
        #[sql_name = "fcmToken"]
        fcm_token -> Nullable<Jsonb>,
    }
}

diesel::table! {
    /// `"Conversation"`.
    #[sql_name = "Conversation"]
    conversations (id) {
        id -> Text,
        name -> Nullable<Text>,
        avatar -> Nullable<Text>,
    }
}

diesel::table! {
    /// `"ConversationMember"`.
    #[sql_name = "ConversationMember"]
    conversation_members (id) {
        id -> Int4,
        #[sql_name = "conversationId"]
        conversation_id -> Text,
        #[sql_name = "userId"]
        user_id -> Nullable<Int4>,
        #[sql_name = "isDeleted"]
        is_deleted -> Bool,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, conversations, conversation_members);
