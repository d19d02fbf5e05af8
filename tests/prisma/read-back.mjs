// Reads a loaded database back through a real Prisma Client (the way the chat
// application reads it) and prints what it saw as one JSON object on stdout.
// tests/prisma.rs compares every figure with plain SQL on the same database.
// Usage (from a folder where `prisma generate` ran): node read-back.mjs DATABASE_URL
import { PrismaClient } from '@prisma/client';
import { PrismaPg } from '@prisma/adapter-pg';

const url = process.argv[2];
if (!url) {
  console.error('usage: read-back.mjs DATABASE_URL');
  process.exit(2);
}
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url }) });

const models = [
  'user', 'conversation', 'conversationUser', 'message', 'messageRead', 'messageReceipt',
  'attachment', 'post', 'interaction', 'connection', 'coolnessRating', 'push', 'postView',
];
const iso = (d) => (d === null ? null : d.toISOString());

try {
  const counts = {};
  for (const m of models) counts[m] = await prisma[m].count();

  // The busiest group room: its members (with their users) and its last messages.
  const busiest = await prisma.conversation.findMany({
    where: { type: { not: 'DIRECT_MESSAGE' } },
    orderBy: [{ messages: { _count: 'desc' } }, { id: 'asc' }],
    take: 1,
    select: { id: true },
  });
  const room = await prisma.conversation.findUnique({
    where: { id: busiest[0].id },
    include: {
      creator: true,
      conversationUsers: { include: { user: true }, orderBy: { id: 'asc' } },
      messages: { orderBy: { createdAt: 'desc' }, take: 5, include: { sender: true } },
      _count: { select: { messages: true, conversationUsers: true } },
    },
  });
  const conversation = {
    id: room.id,
    type: room.type,
    creatorEmail: room.creator.email,
    createdAt: iso(room.createdAt),
    messageCount: room._count.messages,
    memberCount: room._count.conversationUsers,
    members: room.conversationUsers.map((m) => ({ userId: m.userId, role: m.role, email: m.user.email })),
    lastMessages: room.messages.map((m) => ({
      id: m.id, createdAt: iso(m.createdAt), type: m.type, status: m.status, senderEmail: m.sender.email,
    })),
  };

  // A message with attachments, reads and receipts all present.
  const rich = await prisma.message.findFirst({
    where: { attachments: { some: {} }, messageReads: { some: {} }, messageReceipt: { some: {} } },
    orderBy: { id: 'asc' },
    include: {
      attachments: { orderBy: { id: 'asc' } },
      messageReads: { orderBy: { id: 'asc' } },
      messageReceipt: { orderBy: { id: 'asc' } },
    },
  });
  const message = rich && {
    id: rich.id,
    type: rich.type,
    metadata: rich.metadata,
    attachments: rich.attachments.map((a) => ({ id: a.id, type: a.type, size: a.size, mimeType: a.mimeType })),
    reads: rich.messageReads.map((r) => ({ id: r.id, userId: r.userId, readAt: iso(r.readAt) })),
    receipts: rich.messageReceipt.map((r) => ({ id: r.id, userId: r.userId, state: r.state, timestamp: iso(r.timestamp) })),
  };

  // Enum columns, decoded by the client and grouped.
  const group = async (model, by) =>
    Object.fromEntries(
      (await prisma[model].groupBy({ by: [by], _count: { _all: true } })).map((g) => [g[by], g._count._all]),
    );
  const enums = {
    'messages.type': await group('message', 'type'),
    'messages.status': await group('message', 'status'),
    'conversations.type': await group('conversation', 'type'),
    'conversation_users.role': await group('conversationUser', 'role'),
    'attachments.type': await group('attachment', 'type'),
    'message_receipts.state': await group('messageReceipt', 'state'),
    'users.profileVisibility': await group('user', 'profileVisibility'),
  };

  // A message whose JSON metadata is set, decoded by the client.
  const withMeta = await prisma.message.findFirst({
    where: { NOT: { metadata: { equals: null } } },
    orderBy: { id: 'asc' },
    select: { id: true, metadata: true },
  });

  process.stdout.write(JSON.stringify({ counts, conversation, message, enums, metadata: withMeta }));
} finally {
  await prisma.$disconnect();
}
