-- The Threads directory tables Huddle reads, in the shape Threads' Prisma schema creates them
-- (quoted camelCase names, Prisma's constraint and index names).
--
-- Idempotent and additive: on a database where Prisma already created these tables, nothing
-- is recreated, altered destructively or dropped; only missing columns and indexes are added.

CREATE TABLE IF NOT EXISTS "User" (
    "id" SERIAL NOT NULL,
    "name" TEXT,
    "avatar" TEXT,
    "fcmToken" JSONB,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "Conversation" (
    "id" TEXT NOT NULL,
    "name" TEXT,
    "avatar" TEXT,
    CONSTRAINT "Conversation_pkey" PRIMARY KEY ("id")
);

CREATE TABLE IF NOT EXISTS "ConversationMember" (
    "id" SERIAL NOT NULL,
    "conversationId" TEXT NOT NULL,
    "userId" INTEGER,
    "isDeleted" BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "ConversationMember_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "ConversationMember_conversationId_fkey" FOREIGN KEY ("conversationId")
        REFERENCES "Conversation"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "ConversationMember_userId_fkey" FOREIGN KEY ("userId")
        REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- Columns Huddle reads, in case an older Threads schema lacks one (never changes existing ones).
ALTER TABLE "User" ADD COLUMN IF NOT EXISTS "name" TEXT;
ALTER TABLE "User" ADD COLUMN IF NOT EXISTS "avatar" TEXT;
ALTER TABLE "User" ADD COLUMN IF NOT EXISTS "fcmToken" JSONB;
ALTER TABLE "Conversation" ADD COLUMN IF NOT EXISTS "name" TEXT;
ALTER TABLE "Conversation" ADD COLUMN IF NOT EXISTS "avatar" TEXT;
ALTER TABLE "ConversationMember" ADD COLUMN IF NOT EXISTS "isDeleted" BOOLEAN NOT NULL DEFAULT false;

-- Roster / membership lookups: "conversationId" = $1 [AND "userId" = $2] AND NOT "isDeleted".
CREATE INDEX IF NOT EXISTS "ConversationMember_conversationId_userId_idx"
    ON "ConversationMember" ("conversationId", "userId");
-- Active-calls lookup: "userId" = $1 AND "conversationId" = ANY($2) AND NOT "isDeleted".
CREATE INDEX IF NOT EXISTS "ConversationMember_userId_conversationId_idx"
    ON "ConversationMember" ("userId", "conversationId");
