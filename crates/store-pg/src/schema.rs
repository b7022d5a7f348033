//! diesel table definitions for the Threads (Prisma) tables Huddle reads, and for Huddle's
//! own call-history tables (migration `call_history`), named in the same style.
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

diesel::table! {
    /// `"HuddleCall"`: a finished group call (Huddle's table).
    #[sql_name = "HuddleCall"]
    huddle_calls (id) {
        id -> Text,
        #[sql_name = "conversationId"]
        conversation_id -> Text,
        #[sql_name = "startedBy"]
        started_by -> Text,
        #[sql_name = "startedAt"]
        started_at -> Timestamptz,
        #[sql_name = "endedAt"]
        ended_at -> Timestamptz,
    }
}

diesel::table! {
    /// `"HuddleCallParticipant"`: one participation in a group call (Huddle's table).
    #[sql_name = "HuddleCallParticipant"]
    huddle_call_participants (call_id, seq) {
        #[sql_name = "callId"]
        call_id -> Text,
        seq -> Int4,
        #[sql_name = "userId"]
        user_id -> Text,
        #[sql_name = "joinedAt"]
        joined_at -> Timestamptz,
        #[sql_name = "leftAt"]
        left_at -> Timestamptz,
    }
}

diesel::table! {
    /// `"HuddleDirectCall"`: a finished 1:1 call (Huddle's table).
    #[sql_name = "HuddleDirectCall"]
    huddle_direct_calls (id) {
        id -> Text,
        #[sql_name = "callerId"]
        caller_id -> Text,
        #[sql_name = "calleeId"]
        callee_id -> Text,
        answered -> Bool,
        #[sql_name = "startedAt"]
        started_at -> Timestamptz,
        #[sql_name = "answeredAt"]
        answered_at -> Nullable<Timestamptz>,
        #[sql_name = "endedAt"]
        ended_at -> Timestamptz,
        reason -> Text,
    }
}

diesel::joinable!(huddle_call_participants -> huddle_calls (call_id));

diesel::allow_tables_to_appear_in_same_query!(users, conversations, conversation_members);
diesel::allow_tables_to_appear_in_same_query!(huddle_calls, huddle_call_participants);
