-- Deliberately empty: these tables belong to Threads (Prisma). Reverting Huddle's migration
-- never drops them, their data, or indexes Prisma may also declare.
SELECT 1;
