-- Huddle's call history: finished group calls with their participations, and finished 1:1
-- calls. Huddle's own tables, next to the Threads (Prisma) ones and named in their style
-- (quoted camelCase, Prisma's constraint and index names).
--
-- Additive and idempotent: only new tables and indexes, each `IF NOT EXISTS`; no Prisma table
-- is altered, and there is deliberately no foreign key to one (a call may outlive its
-- conversation row, and the ids are Huddle's strings). Times are timestamptz (microseconds).

CREATE TABLE IF NOT EXISTS "HuddleCall" (
    "id" TEXT NOT NULL,
    "conversationId" TEXT NOT NULL,
    "startedBy" TEXT NOT NULL,
    "startedAt" TIMESTAMPTZ NOT NULL,
    "endedAt" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "HuddleCall_pkey" PRIMARY KEY ("id")
);

-- History of a conversation, newest first: "conversationId" = $1 ORDER BY "startedAt" DESC.
CREATE INDEX IF NOT EXISTS "HuddleCall_conversationId_startedAt_idx"
    ON "HuddleCall" ("conversationId", "startedAt" DESC);

-- One row per participation ("seq" = its position in the record; a user who rejoined has
-- several rows). Deleted with its call.
CREATE TABLE IF NOT EXISTS "HuddleCallParticipant" (
    "callId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "userId" TEXT NOT NULL,
    "joinedAt" TIMESTAMPTZ NOT NULL,
    "leftAt" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "HuddleCallParticipant_pkey" PRIMARY KEY ("callId", "seq"),
    CONSTRAINT "HuddleCallParticipant_callId_fkey" FOREIGN KEY ("callId")
        REFERENCES "HuddleCall"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- "Calls user u took part in" (the primary key already serves lookups by call).
CREATE INDEX IF NOT EXISTS "HuddleCallParticipant_userId_joinedAt_idx"
    ON "HuddleCallParticipant" ("userId", "joinedAt" DESC);

CREATE TABLE IF NOT EXISTS "HuddleDirectCall" (
    "id" TEXT NOT NULL,
    "callerId" TEXT NOT NULL,
    "calleeId" TEXT NOT NULL,
    "answered" BOOLEAN NOT NULL,
    "startedAt" TIMESTAMPTZ NOT NULL,
    "answeredAt" TIMESTAMPTZ,
    "endedAt" TIMESTAMPTZ NOT NULL,
    "reason" TEXT NOT NULL,
    CONSTRAINT "HuddleDirectCall_pkey" PRIMARY KEY ("id")
);

-- A user's 1:1 calls, newest first, as caller or as callee ("Missed call").
CREATE INDEX IF NOT EXISTS "HuddleDirectCall_callerId_startedAt_idx"
    ON "HuddleDirectCall" ("callerId", "startedAt" DESC);
CREATE INDEX IF NOT EXISTS "HuddleDirectCall_calleeId_startedAt_idx"
    ON "HuddleDirectCall" ("calleeId", "startedAt" DESC);
