// Reads a database loaded into the changed team schema (issue 11: tenantId on
// users, conversations, messages and message_reactions; a varchar(64); a
// decimal(10,2); the MessageReaction model) back through a Prisma Client
// generated from that changed schema, and prints what it saw as one JSON
// object on stdout. tests/prisma.rs compares every figure with plain SQL.
// Usage: node read-back-changed.mjs DATABASE_URL CLIENT_DIR
// (CLIENT_DIR: the generator's `output` folder of the changed schema).
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';

const [url, clientDir] = process.argv.slice(2);
if (!url || !clientDir) {
  console.error('usage: read-back-changed.mjs DATABASE_URL CLIENT_DIR');
  process.exit(2);
}
const mod = await import(pathToFileURL(path.resolve(clientDir, 'index.js')).href);
const PrismaClient = mod.PrismaClient ?? mod.default.PrismaClient;
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url }) });
const iso = (d) => (d === null ? null : d.toISOString());

try {
  const counts = {};
  for (const m of ['user', 'conversation', 'message', 'attachment', 'messageReaction']) {
    counts[m] = await prisma[m].count();
  }
  // The first reactions by id, with their message and their reactor.
  const reactions = (
    await prisma.messageReaction.findMany({
      orderBy: { id: 'asc' },
      take: 20,
      include: { message: true, user: true },
    })
  ).map((r) => ({
    id: r.id,
    emoji: r.emoji,
    tenantId: r.tenantId,
    createdAt: iso(r.createdAt),
    messageId: r.messageId,
    messageTenantId: r.message.tenantId,
    userId: r.userId,
    userEmail: r.user.email,
  }));
  // The first messages by id: the tenant and the varchar(64).
  const messages = (
    await prisma.message.findMany({
      orderBy: { id: 'asc' },
      take: 20,
      select: { id: true, tenantId: true, clientVersion: true, _count: { select: { reactions: true } } },
    })
  ).map((m) => ({ id: m.id, tenantId: m.tenantId, clientVersion: m.clientVersion, reactions: m._count.reactions }));
  // The first attachments by id: the decimal(10,2), as Prisma's Decimal.
  const attachments = (
    await prisma.attachment.findMany({ orderBy: { id: 'asc' }, take: 20, select: { id: true, price: true } })
  ).map((a) => ({ id: a.id, price: a.price.toFixed(2), isDecimal: typeof a.price.toFixed === 'function' && typeof a.price !== 'number' }));
  const priceSum = (await prisma.attachment.aggregate({ _sum: { price: true } }))._sum.price.toFixed(2);
  const byTenant = Object.fromEntries(
    (await prisma.messageReaction.groupBy({ by: ['tenantId'], _count: { _all: true } })).map((g) => [
      g.tenantId,
      g._count._all,
    ]),
  );

  process.stdout.write(JSON.stringify({ counts, reactions, messages, attachments, priceSum, byTenant }));
} finally {
  await prisma.$disconnect();
}
