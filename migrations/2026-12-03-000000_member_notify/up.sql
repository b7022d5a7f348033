-- Membership change notifications: Huddle answers "which of my conversations have an active
-- call?" from the rosters its active rooms hold in memory, and keeps them true by LISTENing on
-- the channel `huddle_members`. Every committed change to a "ConversationMember" row (and to a
-- "Conversation" row's name or avatar) sends one NOTIFY whose payload is the conversation id;
-- a TRUNCATE sends '*' (every conversation). NOTIFY is transactional: the server hears of a
-- change when it commits, and PostgreSQL folds identical payloads of one transaction.
--
-- Additive and idempotent: one function and three triggers of Huddle's own (names prefixed
-- "huddle_"), `CREATE OR REPLACE` / `DROP ... IF EXISTS` first; no Prisma table or column is
-- altered. Writers see no behaviour change (AFTER triggers that return nothing).

CREATE OR REPLACE FUNCTION "huddle_member_notify"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('huddle_members', '*');
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'Conversation' THEN
        PERFORM pg_notify('huddle_members', NEW."id");
        IF OLD."id" IS DISTINCT FROM NEW."id" THEN
            PERFORM pg_notify('huddle_members', OLD."id");
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('huddle_members', OLD."conversationId");
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('huddle_members', NEW."conversationId");
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS "huddle_member_notify" ON "ConversationMember";
CREATE TRIGGER "huddle_member_notify"
    AFTER INSERT OR UPDATE OR DELETE ON "ConversationMember"
    FOR EACH ROW EXECUTE FUNCTION "huddle_member_notify"();

DROP TRIGGER IF EXISTS "huddle_member_notify_truncate" ON "ConversationMember";
CREATE TRIGGER "huddle_member_notify_truncate"
    AFTER TRUNCATE ON "ConversationMember"
    FOR EACH STATEMENT EXECUTE FUNCTION "huddle_member_notify"();

DROP TRIGGER IF EXISTS "huddle_conversation_notify" ON "Conversation";
CREATE TRIGGER "huddle_conversation_notify"
    AFTER UPDATE OF "id", "name", "avatar" ON "Conversation"
    FOR EACH ROW EXECUTE FUNCTION "huddle_member_notify"();
