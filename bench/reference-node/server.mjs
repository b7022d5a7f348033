// Node.js reference server for Huddle's benchmarks (`cargo xtask bench`).
//
// It implements the NON-media Socket.IO events of the Threads group-call server the way the
// seeds' code does (socket.io 4, one process, in-memory maps):
//
//   join(userId[, ack])          socket.join(userId), presence maps, then the memory-first
//                                active-calls lookup -> `active_group_calls` (only when non-empty)
//   get_active_calls({}[, ack])  same lookup; ack {calls} or the `active_group_calls` event
//   group_call_initiate          membership check, callerInfo / conversationInfo, then
//                                `group_call_incoming` to online members except the caller and
//                                `group_call_started` to every member
//   createRoom / leaveRoom       the room / participant bookkeeping that makes calls "active"
//                                (no mediasoup: the ack carries empty rtpCapabilities)
//   disconnect                   presence and participant cleanup
//
// The "database" is either the same directory JSON Huddle's embedded directory reads
// (`{users:[{id,name,avatar}], conversations:[{id,name,avatar,members:[ids]}]}`), held in memory,
// or, with `--database-url`, the Threads tables in PostgreSQL ("User", "Conversation",
// "ConversationMember", as Huddle's migrations create them) read with the `pg` package (one
// Pool of the default size, 10; named prepared statements equivalent to the seeds' Prisma
// queries). Either way it is queried through async functions shaped like the seeds' Prisma
// calls. The seeds log every event with console.log; this reference does not (it would
// dominate the measurement).
//
// usage: node server.mjs --port PORT (--directory FILE | --database-url URL) [--host 127.0.0.1]
//                        [--avatar-base-url URL]
//
// HTTP: GET /healthz -> "ok"; GET /debug/stats -> {sockets, joinedUsers, rooms, participants,
// directoryQueries}.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Server } from 'socket.io';

function parseArgs(argv) {
  const opts = {
    port: 8000,
    host: '127.0.0.1',
    directory: null,
    databaseUrl: null,
    avatarBaseUrl: 'http://localhost:8000/uploads',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(next());
    else if (a === '--host') opts.host = next();
    else if (a === '--directory') opts.directory = next();
    else if (a === '--database-url') opts.databaseUrl = next();
    else if (a === '--avatar-base-url') opts.avatarBaseUrl = next();
    else if (/^\d+$/.test(a)) opts.port = Number(a);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error(`invalid port ${opts.port}`);
  }
  if (opts.directory && opts.databaseUrl) {
    throw new Error('--directory and --database-url are exclusive');
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------------------------------------
// The directory ("database")

const data = opts.directory
  ? JSON.parse(readFileSync(opts.directory, 'utf8'))
  : { users: [], conversations: [] };

/** userId (number) -> {id, name, avatar, fcmToken} */
const userRows = new Map();
for (const u of data.users ?? []) {
  userRows.set(Number(u.id), {
    id: Number(u.id),
    name: u.name ?? null,
    avatar: u.avatar ?? null,
    fcmToken: u.fcmTokens ?? u.fcmToken ?? [],
  });
}
/** conversationId -> {id, name, avatar} */
const conversationRows = new Map();
/** conversationId -> [userId (number)] (non-deleted members) */
const memberRows = new Map();
/** `${conversationId}\u0000${userId}` -> true: the (conversationId, userId) index */
const memberIndex = new Set();
for (const c of data.conversations ?? []) {
  const id = String(c.id);
  conversationRows.set(id, { id, name: c.name ?? null, avatar: c.avatar ?? null });
  const members = (c.members ?? []).map((m) => Number(typeof m === 'object' ? m.userId ?? m.id : m));
  memberRows.set(id, members);
  for (const m of members) memberIndex.add(`${id}\u0000${m}`);
}

/** Directory queries made (both modes), as Huddle's `/debug/stats` `directoryQueries`. */
let directoryQueries = 0;

// Shaped like the Prisma calls of the seeds, answered from memory.
const memoryPrisma = {
  conversation: {
    async findUnique(id) {
      directoryQueries++;
      return conversationRows.get(id) ?? null;
    },
  },
  conversationMember: {
    /** findMany({where: {conversationId, isDeleted: false, userId: {not: null}}, select: {userId, user}}) */
    async findMany(conversationId) {
      directoryQueries++;
      return (memberRows.get(conversationId) ?? []).map((userId) => ({
        userId,
        user: userRows.get(userId) ?? null,
      }));
    },
    /** findFirst({where: {conversationId, userId, isDeleted: false}, select: {user}}) */
    async findFirst(conversationId, userId) {
      directoryQueries++;
      if (!memberIndex.has(`${conversationId}\u0000${userId}`)) return null;
      return { user: userRows.get(userId) ?? null };
    },
    /**
     * findMany({where: {userId: me, conversationId: {in: ids}, isDeleted: false},
     *           select: {conversation: {select: {id, name, avatar}}}})
     */
    async findManyForUserIn(userId, conversationIds) {
      directoryQueries++;
      const rows = [];
      for (const id of conversationIds) {
        if (memberIndex.has(`${id}\u0000${userId}`)) {
          rows.push({ conversationId: id, conversation: conversationRows.get(id) ?? null });
        }
      }
      return rows;
    },
  },
};

// The same calls answered by PostgreSQL: one SQL statement per Prisma call (Prisma itself may
// split a relation select into two statements; one join is the cheaper equivalent).
async function pgPrisma(url) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url });
  pool.on('error', () => { /* an idle client lost its connection: the pool replaces it */ });
  const query = async (name, text, values) => {
    directoryQueries++;
    const res = await pool.query({ name, text, values });
    return res.rows;
  };
  const user = (r) => (r.uid == null ? null : { id: r.uid, name: r.uname, avatar: r.uavatar });
  return {
    conversation: {
      async findUnique(id) {
        const rows = await query(
          'conversation_find_unique',
          'SELECT "id", "name", "avatar" FROM "Conversation" WHERE "id" = $1',
          [id],
        );
        return rows[0] ?? null;
      },
    },
    conversationMember: {
      async findMany(conversationId) {
        const rows = await query(
          'member_roster',
          'SELECT m."userId", u."id" AS uid, u."name" AS uname, u."avatar" AS uavatar ' +
            'FROM "ConversationMember" m LEFT JOIN "User" u ON u."id" = m."userId" ' +
            'WHERE m."conversationId" = $1 AND NOT m."isDeleted" AND m."userId" IS NOT NULL',
          [conversationId],
        );
        return rows.map((r) => ({ userId: r.userId, user: user(r) }));
      },
      async findFirst(conversationId, userId) {
        const rows = await query(
          'member_find_first',
          'SELECT u."id" AS uid, u."name" AS uname, u."avatar" AS uavatar ' +
            'FROM "ConversationMember" m LEFT JOIN "User" u ON u."id" = m."userId" ' +
            'WHERE m."conversationId" = $1 AND m."userId" = $2 AND NOT m."isDeleted" LIMIT 1',
          [conversationId, userId],
        );
        return rows.length > 0 ? { user: user(rows[0]) } : null;
      },
      async findManyForUserIn(userId, conversationIds) {
        const rows = await query(
          'member_active_in',
          'SELECT m."conversationId", c."id", c."name", c."avatar" ' +
            'FROM "ConversationMember" m JOIN "Conversation" c ON c."id" = m."conversationId" ' +
            'WHERE m."userId" = $1 AND m."conversationId" = ANY($2) AND NOT m."isDeleted"',
          [userId, conversationIds],
        );
        return rows.map((r) => ({
          conversationId: r.conversationId,
          conversation: { id: r.id, name: r.name, avatar: r.avatar },
        }));
      },
    },
  };
}

const prisma = opts.databaseUrl ? await pgPrisma(opts.databaseUrl) : memoryPrisma;

const FileService = {
  avatarUrl(file) {
    if (/^https?:\/\//.test(file)) return file;
    return `${opts.avatarBaseUrl.replace(/\/+$/, '')}/${file}`;
  },
};

// ---------------------------------------------------------------------------------------------
// In-memory state, as in the seeds

/** userId (string) -> Set<socketId> */
const userSockets = new Map();
/** socketId -> userId (string) */
const socketUsers = new Map();
/** roomId -> {createdAt}: the active rooms (the seeds' `mediasoupRooms`, without the router) */
const mediasoupRooms = new Map();
/** socketId -> {roomId, participantInfo} (the seeds' `mediasoupParticipants`, no media) */
const mediasoupParticipants = new Map();

const getSocketsForUser = (userId) => userSockets.get(userId);
const getUserIdBySocket = (socketId) => socketUsers.get(socketId);

function isMediasoupRoomEmpty(roomId) {
  for (const p of mediasoupParticipants.values()) {
    if (p.roomId === roomId) return false;
  }
  return true;
}

function participantCount(roomId) {
  let n = 0;
  for (const p of mediasoupParticipants.values()) {
    if (p.roomId === roomId) n++;
  }
  return n;
}

/** Removes the socket's participant; returns the room it was in (and drops an empty room). */
function cleanupMediasoupParticipant(socketId) {
  const p = mediasoupParticipants.get(socketId);
  if (!p) return null;
  mediasoupParticipants.delete(socketId);
  if (isMediasoupRoomEmpty(p.roomId)) mediasoupRooms.delete(p.roomId);
  return p.roomId;
}

function conversationInfoOf(roomId, conversation) {
  return {
    id: roomId,
    name: conversation?.name ?? 'Group Call',
    avatar: conversation?.avatar ? FileService.avatarUrl(conversation.avatar) : null,
  };
}

/**
 * Memory first: no active room anywhere -> no query at all. Otherwise one targeted query
 * (userId = me AND conversationId IN active ids); participantCount from memory.
 */
async function getActiveCallsForUser(userId) {
  const activeIds = [...mediasoupRooms.keys()];
  if (activeIds.length === 0) return [];
  const rows = await prisma.conversationMember.findManyForUserIn(Number(userId), activeIds);
  return rows.map((r) => ({
    conversationId: r.conversationId,
    conversationInfo: conversationInfoOf(r.conversationId, r.conversation),
    participantCount: participantCount(r.conversationId),
  }));
}

// ---------------------------------------------------------------------------------------------
// HTTP + Socket.IO

const httpServer = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  } else if (req.url === '/debug/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      sockets: io.engine.clientsCount,
      joinedUsers: userSockets.size,
      rooms: mediasoupRooms.size,
      participants: mediasoupParticipants.size,
      directoryQueries,
    }));
  } else {
    res.writeHead(404);
    res.end();
  }
});

const io = new Server(httpServer, { serveClient: false, cors: { origin: '*' } });

io.on('connection', (socket) => {
  socket.on('join', async (userId, ack) => {
    if (userId === undefined || userId === null || userId === '') return;
    const uid = String(userId);
    const previous = socketUsers.get(socket.id);
    if (previous !== undefined && previous !== uid) {
      userSockets.get(previous)?.delete(socket.id);
      if (userSockets.get(previous)?.size === 0) userSockets.delete(previous);
      socket.leave(previous);
    }
    socket.join(uid);
    socketUsers.set(socket.id, uid);
    let set = userSockets.get(uid);
    if (!set) {
      set = new Set();
      userSockets.set(uid, set);
    }
    set.add(socket.id);
    if (typeof ack === 'function') ack({ success: true });
    try {
      const calls = await getActiveCallsForUser(uid);
      if (calls.length > 0) socket.emit('active_group_calls', { calls });
    } catch (_) { /* as the seeds: the lookup failing must not break join */ }
  });

  socket.on('get_active_calls', async (dataOrCb, maybeCb) => {
    const cb = typeof dataOrCb === 'function' ? dataOrCb : maybeCb;
    const userId = getUserIdBySocket(socket.id);
    if (!userId) {
      if (typeof cb === 'function') cb({ error: 'Not joined' });
      else socket.emit('group_call_error', { message: 'Not joined' });
      return;
    }
    try {
      const calls = await getActiveCallsForUser(userId);
      if (typeof cb === 'function') cb({ calls });
      else if (calls.length > 0) socket.emit('active_group_calls', { calls });
    } catch (_) {
      if (typeof cb === 'function') cb({ error: 'Directory unavailable, try again' });
    }
  });

  socket.on('createRoom', async (payload, cb) => {
    const reply = typeof cb === 'function' ? cb : () => {};
    const roomId = payload?.roomId;
    if (!roomId) return reply({ error: 'roomId required' });
    const userId = getUserIdBySocket(socket.id);
    if (!userId) return reply({ error: 'Join first with your user ID' });
    let memberRow;
    let conversation;
    try {
      [memberRow, conversation] = await Promise.all([
        prisma.conversationMember.findFirst(roomId, Number(userId)),
        prisma.conversation.findUnique(roomId),
      ]);
    } catch (_) {
      return reply({ error: 'Directory unavailable, try again' });
    }
    if (!memberRow) return reply({ error: 'You are not in this group' });
    const participantInfo = {
      userId,
      name: memberRow.user?.name ?? `User ${userId}`,
      avatar: memberRow.user?.avatar ? FileService.avatarUrl(memberRow.user.avatar) : null,
    };
    const conversationInfo = conversationInfoOf(roomId, conversation);
    const wasEmpty = isMediasoupRoomEmpty(roomId);
    if (!mediasoupRooms.has(roomId)) mediasoupRooms.set(roomId, { createdAt: Date.now() });
    mediasoupParticipants.set(socket.id, { roomId, participantInfo });
    socket.join(roomId);
    if (wasEmpty) {
      const members = await prisma.conversationMember.findMany(roomId).catch(() => []);
      for (const m of members) {
        if (m.userId) {
          io.to(String(m.userId)).emit('group_call_started', { conversationId: roomId, conversationInfo });
        }
      }
    }
    reply({ rtpCapabilities: { codecs: [], headerExtensions: [] } });
  });

  const leave = async () => {
    const roomId = cleanupMediasoupParticipant(socket.id);
    if (!roomId) return;
    socket.leave(roomId);
    socket.to(roomId).emit('participantLeft', { socketId: socket.id });
    if (isMediasoupRoomEmpty(roomId)) {
      const members = await prisma.conversationMember.findMany(roomId).catch(() => []);
      for (const m of members) {
        if (m.userId) io.to(String(m.userId)).emit('group_call_ended', { conversationId: roomId });
      }
    }
  };

  socket.on('leaveRoom', async (ack) => {
    await leave();
    if (typeof ack === 'function') ack({ success: true });
  });

  socket.on('group_call_initiate', async (payload) => {
    const { callerId, conversationId, callType = 'video' } = payload ?? {};
    if (!callerId || !conversationId) return;
    const callerIdNumber = Number(callerId);
    if (Number.isNaN(callerIdNumber)) {
      socket.emit('group_call_error', { message: 'Invalid caller id' });
      return;
    }
    try {
      const conversation = await prisma.conversation.findUnique(conversationId);
      const members = await prisma.conversationMember.findMany(conversationId);
      const memberIds = members.map((m) => m.userId).filter((id) => id != null);
      if (!memberIds.some((id) => String(id) === String(callerId))) {
        socket.emit('group_call_error', { message: 'You are not in this group' });
        return;
      }
      const callerRow = members.find((m) => String(m.userId) === String(callerId))?.user;
      const callerInfo = {
        id: callerIdNumber,
        name: callerRow?.name ?? `User ${callerId}`,
        avatar: callerRow?.avatar ? FileService.avatarUrl(callerRow.avatar) : null,
      };
      const conversationInfo = conversationInfoOf(conversationId, conversation);
      const otherMembers = members.filter((m) => String(m.userId) !== String(callerId));
      for (const member of otherMembers) {
        if (!member.userId) continue;
        const userIdStr = String(member.userId);
        const sockets = getSocketsForUser(userIdStr);
        if (sockets && sockets.size > 0) {
          io.to(userIdStr).emit('group_call_incoming', {
            callerId: String(callerId),
            conversationId,
            callType,
            callerInfo,
            conversationInfo,
          });
        }
        // (The seeds also send an FCM push per token here; the bench directory has no tokens.)
      }
      for (const m of members) {
        if (m.userId) {
          io.to(String(m.userId)).emit('group_call_started', { conversationId, callerInfo, conversationInfo });
        }
      }
    } catch (_) { /* logged by the seeds, ignored here */ }
  });

  socket.on('disconnect', () => {
    void leave();
    const userId = socketUsers.get(socket.id);
    socketUsers.delete(socket.id);
    if (userId !== undefined) {
      const set = userSockets.get(userId);
      set?.delete(socket.id);
      if (set && set.size === 0) userSockets.delete(userId);
    }
  });
});

httpServer.listen(opts.port, opts.host, () => {
  const addr = httpServer.address();
  process.stderr.write(`reference-node listening on http://${addr.address}:${addr.port}/\n`);
});

const stop = () => {
  io.close();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
