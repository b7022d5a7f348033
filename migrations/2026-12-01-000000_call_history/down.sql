-- Drops Huddle's call-history tables (and their indexes) with the recorded history. Only
-- Huddle's own tables: no Threads (Prisma) table is touched.
DROP TABLE IF EXISTS "HuddleCallParticipant";
DROP TABLE IF EXISTS "HuddleCall";
DROP TABLE IF EXISTS "HuddleDirectCall";
