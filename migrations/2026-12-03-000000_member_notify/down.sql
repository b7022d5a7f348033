DROP TRIGGER IF EXISTS "huddle_conversation_notify" ON "Conversation";
DROP TRIGGER IF EXISTS "huddle_member_notify_truncate" ON "ConversationMember";
DROP TRIGGER IF EXISTS "huddle_member_notify" ON "ConversationMember";
DROP FUNCTION IF EXISTS "huddle_member_notify"();
