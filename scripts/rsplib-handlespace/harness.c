/*
 * RSPLIB 3.4.4 handlespace throughput, driven through RSPLIB's own API.
 *
 * Drives the red-black-tree handlespace management of Debian's librsplib3
 * (librsphsmgt.so.3, the `_SimpleRedBlackTree` symbols) with the workload
 * of `rserpool bench handlespace` (ARCHITECTURE.md, "Benchmark protocol
 * (handlespace, paper section 4.1)"; crates/rserpool-bench/src/) and
 * prints the same CSV (impl column `rsplib`), so that
 *
 *   rserpool bench handlespace --rsplib rsplib-local.csv --compare ours.csv
 *
 * compares the two measured on one machine. Like that workload, each
 * registration also does what the registrar does around it (through the
 * PE's association, then a timer restart); --bare leaves both out. See
 * README.md next to this file for how to run it and for each operation.
 *
 * librsplib-dev ships no handlespace headers, so the few structures this
 * program touches are declared below from RSPLIB 3.4.4's layout (x86-64);
 * the static assertions pin every offset the library's code uses
 * (checked against its disassembly), and `--check` verifies them by
 * behaviour before anything is measured.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* ====== RSPLIB 3.4.4 types (x86-64 layout) ============================= */

typedef uint32_t RegistrarIdentifierType;
typedef uint32_t PoolElementIdentifierType;
typedef uint16_t HandlespaceChecksumType;
typedef uint32_t HandlespaceChecksumAccumulatorType;
typedef int32_t  AssocId; /* sctp_assoc_t on Linux */

/* Policy types (also in <rserpool/rserpool-policytypes.h>). */
#define POLICY_ROUNDROBIN 0x00000001u
#define POLICY_RANDOM     0x00000003u
#define POLICY_LEASTUSED  0x40000001u

/* Timer codes of a pool element entry. */
#define TIMER_EXPIRY                 1000u
#define TIMER_KEEPALIVE_TRANSMISSION 1001u

/* Flags: transport address block carries the control channel; handle
   table extraction starts at the beginning. */
#define ADDRESS_BLOCK_CONTROL_CHANNEL (1u << 0)
#define HANDLE_TABLE_START            (1u << 0)

#define RSPLIB_OKAY 0u

/* A node of RSPLIB's (simple) red-black tree: 48 bytes. */
struct TreeNode {
   struct TreeNode*   Parent;
   struct TreeNode*   Left;
   struct TreeNode*   Right;
   int                Color;
   unsigned long long Value;
   unsigned long long ValueSum;
};

struct PoolHandle {
   size_t        Size;
   unsigned char Handle[32];
};

struct PoolPolicySettings {
   unsigned int PolicyType;
   unsigned int Weight;
   unsigned int Load;
   unsigned int LoadDegradation;
   unsigned int LoadDPF;
   unsigned int WeightDPF;
   unsigned int Distance;
};

union SocketAddress {
   struct sockaddr     sa;
   struct sockaddr_in  in;
   struct sockaddr_in6 in6;
};

struct TransportAddressBlock {
   struct TransportAddressBlock* Next;
   int                           Protocol;
   uint16_t                      Port;
   uint16_t                      Flags;
   size_t                        Addresses;
   union SocketAddress           AddressArray[];
};

/* One PE entry: 392 bytes. */
struct PoolElementNode {
   struct TreeNode                    SelectionNode;
   struct TreeNode                    IndexNode;
   struct TreeNode                    TimerNode;
   struct TreeNode                    ConnectionNode;
   struct TreeNode                    OwnershipNode;
   void*                              OwnerPoolNode;
   PoolElementIdentifierType          Identifier;
   HandlespaceChecksumAccumulatorType Checksum;
   RegistrarIdentifierType            HomeRegistrarIdentifier;
   unsigned int                       RegistrationLife;
   struct PoolPolicySettings          PolicySettings;
   unsigned int                       Flags;
   uint32_t                           SeqNumber;
   uint32_t                           RoundCounter;
   unsigned int                       VirtualCounter;
   unsigned int                       Degradation;
   unsigned int                       UnreachabilityReports;
   unsigned long long                 SelectionCounter;
   unsigned long long                 LastUpdateTimeStamp;
   unsigned int                       TimerCode;
   unsigned long long                 TimerTimeStamp;
   int                                ConnectionSocketDescriptor;
   AssocId                            ConnectionAssocID;
   struct TransportAddressBlock*      UserTransport;
   struct TransportAddressBlock*      RegistratorTransport;
   void*                              UserData;
   unsigned long long                 LastKeepAliveTransmission;
};

/* A block of the handle table (the registrar's Handle Table Response). */
#define HANDLE_TABLE_MAX 1024
struct HandleTableExtract {
   struct PoolHandle        LastPoolHandle;
   PoolElementIdentifierType LastPoolElementIdentifier;
   size_t                   PoolElementNodes;
   struct PoolElementNode*  PoolElementNodeArray[HANDLE_TABLE_MAX];
};

_Static_assert(sizeof(struct TreeNode) == 48, "tree node");
_Static_assert(sizeof(struct PoolHandle) == 40, "pool handle");
_Static_assert(sizeof(struct PoolPolicySettings) == 28, "policy settings");
_Static_assert(sizeof(union SocketAddress) == 28, "socket address");
_Static_assert(offsetof(struct TransportAddressBlock, Port) == 0x0c, "TAB port");
_Static_assert(offsetof(struct TransportAddressBlock, Addresses) == 0x10, "TAB addresses");
_Static_assert(offsetof(struct TransportAddressBlock, AddressArray) == 0x18, "TAB array");
_Static_assert(offsetof(struct PoolElementNode, Identifier) == 0xf8, "PE id");
_Static_assert(offsetof(struct PoolElementNode, HomeRegistrarIdentifier) == 0x100, "PE home");
_Static_assert(offsetof(struct PoolElementNode, RegistrationLife) == 0x104, "PE life");
_Static_assert(offsetof(struct PoolElementNode, PolicySettings) == 0x108, "PE policy");
_Static_assert(offsetof(struct PoolElementNode, Flags) == 0x124, "PE flags");
_Static_assert(offsetof(struct PoolElementNode, SelectionCounter) == 0x140, "PE selections");
_Static_assert(offsetof(struct PoolElementNode, TimerCode) == 0x150, "PE timer code");
_Static_assert(offsetof(struct PoolElementNode, TimerTimeStamp) == 0x158, "PE timer time");
_Static_assert(offsetof(struct PoolElementNode, ConnectionSocketDescriptor) == 0x160, "PE sd");
_Static_assert(offsetof(struct PoolElementNode, UserTransport) == 0x168, "PE transport");
_Static_assert(sizeof(struct PoolElementNode) == 392, "PE entry");
_Static_assert(offsetof(struct HandleTableExtract, LastPoolElementIdentifier) == 0x28, "HTE id");
_Static_assert(offsetof(struct HandleTableExtract, PoolElementNodes) == 0x30, "HTE count");

/* The management object is 392 bytes in 3.4.4 (RSPLIB initialises it);
   allocated with room to spare. Its handlespace node is at offset 0. */
#define MANAGEMENT_BYTES 4096

/* ====== RSPLIB 3.4.4 functions used ==================================== */

#define HSM(name) poolHandlespaceManagement##name##_SimpleRedBlackTree
#define HSN(name) poolHandlespaceNode##name##_SimpleRedBlackTree

void HSM(New)(void* management, RegistrarIdentifierType home,
              void* poolNodeUserDataDisposer, void* poolElementNodeUserDataDisposer,
              void* disposerUserData);
void HSM(Delete)(void* management);
void HSM(Verify)(void* management);
HandlespaceChecksumType HSM(GetHandlespaceChecksum)(const void* management);
HandlespaceChecksumType HSM(GetOwnershipChecksum)(const void* management);
size_t HSM(GetPools)(const void* management);
size_t HSM(GetPoolElements)(const void* management);
size_t HSM(GetOwnedPoolElements)(const void* management);
size_t HSM(GetPoolElementsOfPool)(void* management, const struct PoolHandle* pool);
unsigned int HSM(RegisterPoolElement)(void* management, const struct PoolHandle* pool,
                                      RegistrarIdentifierType home,
                                      PoolElementIdentifierType id,
                                      unsigned int registrationLife,
                                      const struct PoolPolicySettings* policy,
                                      const struct TransportAddressBlock* userTransport,
                                      const struct TransportAddressBlock* registratorTransport,
                                      int connectionSocketDescriptor, AssocId connectionAssocId,
                                      unsigned long long now, struct PoolElementNode** entry);
unsigned int HSM(DeregisterPoolElement)(void* management, const struct PoolHandle* pool,
                                        PoolElementIdentifierType id);
struct PoolElementNode* HSM(FindPoolElement)(void* management, const struct PoolHandle* pool,
                                             PoolElementIdentifierType id);
unsigned int HSM(HandleResolution)(void* management, const struct PoolHandle* pool,
                                   struct PoolElementNode** out, size_t* count,
                                   size_t maxItems, size_t maxIncrement);
int HSM(GetHandleTable)(void* management, RegistrarIdentifierType home,
                        struct HandleTableExtract* extract, unsigned int flags,
                        size_t maxElements);

void HSN(ActivateTimer)(void* handlespace, struct PoolElementNode* entry,
                        unsigned int timerCode, unsigned long long timerTimeStamp);
void HSN(DeactivateTimer)(void* handlespace, struct PoolElementNode* entry);
size_t HSN(GetTimerNodes)(const void* handlespace);
size_t HSN(GetConnectionNodes)(const void* handlespace);
size_t HSN(GetOwnershipNodesForIdentifier)(void* handlespace, RegistrarIdentifierType home);
struct PoolElementNode* HSN(GetFirstPoolElementTimerNode)(void* handlespace);
struct PoolElementNode* HSN(GetNextPoolElementTimerNode)(void* handlespace,
                                                         struct PoolElementNode* entry);
HandlespaceChecksumAccumulatorType HSN(GetHandlespaceChecksum)(const void* handlespace);
HandlespaceChecksumAccumulatorType HSN(ComputeHandlespaceChecksum)(const void* handlespace);
HandlespaceChecksumAccumulatorType HSN(GetOwnershipChecksum)(const void* handlespace);
HandlespaceChecksumAccumulatorType HSN(ComputeOwnershipChecksum)(const void* handlespace,
                                                                 RegistrarIdentifierType home);

void poolHandleNew(struct PoolHandle* pool, const unsigned char* handle, size_t size);
void poolPolicySettingsNew(struct PoolPolicySettings* settings);
void transportAddressBlockNew(struct TransportAddressBlock* block, int protocol, uint16_t port,
                              uint16_t flags, const union SocketAddress* addresses,
                              size_t count, size_t maxAddresses);

/* ====== The workload's constants (crates/rserpool-bench/src) ======= */

#define OWN_ID          0x01000001u  /* this registrar                     */
#define PEER_ID         0x01000002u  /* home of the PEs it does not own    */
#define LIFETIME_MS     30000u       /* registration life                  */
#define KEEP_ALIVE_MS   15000u       /* keep-alive transmission interval   */
#define SYNC_BLOCK      128u         /* entries per Handle Table Response  */
#define PE_PORT         9000u
#define ASAP_SOCKET     3            /* the registrar's ASAP socket        */
#define CLOCK_EVERY     0.001        /* seconds between two clock reads    */

enum Operation { OP_REGDEREG, OP_REREG, OP_TIMER, OP_HRES, OP_SYNC, OP_COUNT };
enum Policy { POL_ROUNDROBIN, POL_RANDOM, POL_LEASTUSED, POL_COUNT };
enum VariantKind { VAR_NONE, VAR_ITEMS, VAR_OWNED };

static const char* const OP_NAMES[OP_COUNT] = {
   "regdereg", "rereg", "timer", "handleresolution", "sync"
};
static const char* const POLICY_NAMES[POL_COUNT] = { "RoundRobin", "Random", "LeastUsed" };
static const unsigned int POLICY_TYPES[POL_COUNT] = {
   POLICY_ROUNDROBIN, POLICY_RANDOM, POLICY_LEASTUSED
};

struct Cell {
   enum Operation   op;
   enum Policy      policy;
   enum VariantKind kind;
   unsigned int     value;   /* h for VAR_ITEMS, percentage for VAR_OWNED */
};

/* The 17 cells RSPLIB is measured on, in the anchor CSV's order. */
static const struct Cell CELLS[] = {
   { OP_REGDEREG, POL_ROUNDROBIN, VAR_NONE, 0 },
   { OP_REGDEREG, POL_RANDOM,     VAR_NONE, 0 },
   { OP_REREG,    POL_ROUNDROBIN, VAR_NONE, 0 },
   { OP_REREG,    POL_RANDOM,     VAR_NONE, 0 },
   { OP_REREG,    POL_LEASTUSED,  VAR_NONE, 0 },
   { OP_TIMER,    POL_ROUNDROBIN, VAR_OWNED, 0 },
   { OP_TIMER,    POL_ROUNDROBIN, VAR_OWNED, 100 },
   { OP_HRES,     POL_ROUNDROBIN, VAR_ITEMS, 1 },
   { OP_HRES,     POL_ROUNDROBIN, VAR_ITEMS, 2 },
   { OP_HRES,     POL_ROUNDROBIN, VAR_ITEMS, 3 },
   { OP_HRES,     POL_RANDOM,     VAR_ITEMS, 1 },
   { OP_HRES,     POL_RANDOM,     VAR_ITEMS, 2 },
   { OP_HRES,     POL_RANDOM,     VAR_ITEMS, 3 },
   { OP_HRES,     POL_LEASTUSED,  VAR_ITEMS, 1 },
   { OP_HRES,     POL_LEASTUSED,  VAR_ITEMS, 2 },
   { OP_HRES,     POL_LEASTUSED,  VAR_ITEMS, 3 },
   { OP_SYNC,     POL_ROUNDROBIN, VAR_NONE, 0 },
};
#define CELL_COUNT (sizeof(CELLS) / sizeof(CELLS[0]))

static void variantName(const struct Cell* cell, char* buffer, size_t size)
{
   switch(cell->kind) {
      case VAR_ITEMS: snprintf(buffer, size, "h=%u", cell->value); break;
      case VAR_OWNED: snprintf(buffer, size, "owned=%u", cell->value); break;
      default:        snprintf(buffer, size, "-"); break;
   }
}

/* ====== Helpers ======================================================== */

static volatile uint64_t Sink;  /* keeps results alive */

/* The two things RSPLIB's registrar does on a registration besides the
   handlespace call itself, as `rserpool bench handlespace` does too (and as
   perf/README.md describes the anchor); both on by default, off with --bare:
   connections:      the PE has an association on the registrar's ASAP
                     socket, so the connection set is maintained;
   registrar timers: every registration (re)starts the PE's keep-alive
                     (own PE) or expiry (other PR's PE) timer. */
static bool Connections     = true;
static bool RegistrarTimers = true;

static void fail(const char* what)
{
   fprintf(stderr, "harness: %s\n", what);
   exit(1);
}

static void* allocate(size_t bytes)
{
   void* p = calloc(1, bytes);
   if(p == NULL) {
      fail("out of memory");
   }
   return p;
}

/* xoshiro256++ seeded through SplitMix64, as the Rust workload uses. */
struct Rng { uint64_t s[4]; };

static uint64_t splitmix(uint64_t* x)
{
   uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
   z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
   return z ^ (z >> 31);
}

static void rngSeed(struct Rng* r, uint64_t seed)
{
   for(int i = 0; i < 4; i++) {
      r->s[i] = splitmix(&seed);
   }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rngNext(struct Rng* r)
{
   uint64_t* s      = r->s;
   const uint64_t v = rotl(s[0] + s[3], 23) + s[0];
   const uint64_t t = s[1] << 17;
   s[2] ^= s[0];
   s[3] ^= s[1];
   s[1] ^= s[2];
   s[0] ^= s[3];
   s[2] ^= t;
   s[3] = rotl(s[3], 45);
   return v;
}

__extension__ typedef unsigned __int128 U128;

static inline size_t rngBelow(struct Rng* r, size_t n)
{
   return (size_t)(((U128)rngNext(r) * n) >> 64);
}

/* A set of 32-bit values (open addressing; 0 is "empty", never stored). */
struct U32Set { uint32_t* slots; size_t mask; };

static void setNew(struct U32Set* set, size_t capacity)
{
   size_t n = 16;
   while(n < 2 * capacity) {
      n <<= 1;
   }
   set->slots = allocate(n * sizeof(uint32_t));
   set->mask  = n - 1;
}

static bool setInsert(struct U32Set* set, uint32_t v)
{
   size_t i = (size_t)((v * 0x9e3779b97f4a7c15ull) >> 20) & set->mask;
   while(set->slots[i] != 0) {
      if(set->slots[i] == v) {
         return false;
      }
      i = (i + 1) & set->mask;
   }
   set->slots[i] = v;
   return true;
}

static void setDelete(struct U32Set* set) { free(set->slots); }

static double monotonic(void)
{
   struct timespec ts;
   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpuTime(void)
{
   struct timespec ts;
   clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
   return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ====== The workload =================================================== */

struct Workload {
   void*                      management;   /* RSPLIB's handlespace management */
   struct PoolHandle          pool;
   struct Cell                cell;
   RegistrarIdentifierType    home;
   PoolElementIdentifierType* ids;          /* registered PEs, no order        */
   struct PoolElementNode**   entries;      /* parallel to ids                 */
   size_t                     count;
   size_t                     size;
   struct Rng                 rng;
   unsigned long long         now;          /* virtual time, microseconds      */
   size_t                     items;        /* PEs per handle resolution       */
   struct PoolElementNode*    out[3];
   struct HandleTableExtract* extract;
   size_t                     failures;     /* RSPLIB calls that returned an error */
};

/* One registration of a PE of this pool: one IPv4 address, SCTP, data
   plus control channel, no ASAP transport (as the Rust workload); through
   the PE's association on the registrar's ASAP socket (association ID =
   PE ID), or with --no-connections through none (descriptor -1, which
   keeps it out of RSPLIB's connection set). */
static unsigned int registerPE(struct Workload* w, PoolElementIdentifierType id,
                               uint32_t load, struct PoolElementNode** entry)
{
   union {
      struct TransportAddressBlock block;
      unsigned char                bytes[sizeof(struct TransportAddressBlock) +
                                         sizeof(union SocketAddress)];
   } transport;
   union SocketAddress       address;
   struct PoolPolicySettings policy;

   memset(&address, 0, sizeof(address));
   address.in.sin_family      = AF_INET;
   address.in.sin_port        = htons(PE_PORT);
   address.in.sin_addr.s_addr = htonl((10u << 24) | (id & 0xffu));
   transportAddressBlockNew(&transport.block, IPPROTO_SCTP, PE_PORT,
                            ADDRESS_BLOCK_CONTROL_CHANNEL, &address, 1, 1);

   poolPolicySettingsNew(&policy);
   policy.PolicyType = POLICY_TYPES[w->cell.policy];
   if(w->cell.policy == POL_LEASTUSED) {
      policy.Load = load;
   }
   const unsigned int result =
      HSM(RegisterPoolElement)(w->management, &w->pool, w->home, id, LIFETIME_MS,
                               &policy, &transport.block, NULL,
                               Connections ? ASAP_SOCKET : -1,
                               Connections ? (AssocId)(id & 0x7fffffffu) : 0,
                               w->now, entry);
   if(RegistrarTimers && (result == RSPLIB_OKAY) && (*entry != NULL)) {
      const bool own = (w->home == OWN_ID);
      HSN(DeactivateTimer)(w->management, *entry);
      HSN(ActivateTimer)(w->management, *entry,
                         own ? TIMER_KEEPALIVE_TRANSMISSION : TIMER_EXPIRY,
                         w->now + 1000ull * (own ? KEEP_ALIVE_MS : LIFETIME_MS));
   }
   return result;
}

static uint32_t randomId(struct Rng* rng)
{
   uint32_t id;
   do {
      id = (uint32_t)rngNext(rng);
   } while(id == 0);
   return id;
}

static void reschedule(struct Workload* w, size_t i)
{
   const bool own = (w->home == OWN_ID);
   w->now++;
   HSN(DeactivateTimer)(w->management, w->entries[i]);
   HSN(ActivateTimer)(w->management, w->entries[i],
                      own ? TIMER_KEEPALIVE_TRANSMISSION : TIMER_EXPIRY,
                      w->now + 1000ull * (own ? KEEP_ALIVE_MS : LIFETIME_MS));
}

/* Builds the pool of `size` PEs with unique random IDs (and, for
   LeastUsed, distinct random loads). */
static void workloadBuild(struct Workload* w, const struct Cell* cell, size_t size, uint64_t seed)
{
   struct Rng    rng;
   struct U32Set ids, loads;

   memset(w, 0, sizeof(*w));
   w->management = aligned_alloc(64, MANAGEMENT_BYTES);
   if(w->management == NULL) {
      fail("out of memory");
   }
   memset(w->management, 0, MANAGEMENT_BYTES);
   HSM(New)(w->management, OWN_ID, NULL, NULL, NULL);
   poolHandleNew(&w->pool, (const unsigned char*)"bench-pool", 10);
   w->cell    = *cell;
   w->home    = (cell->kind == VAR_OWNED && cell->value == 0) ? PEER_ID : OWN_ID;
   w->items   = (cell->kind == VAR_ITEMS) ? cell->value : 1;
   w->size    = size;
   w->ids     = allocate((size + 1) * sizeof(*w->ids));
   w->entries = allocate((size + 1) * sizeof(*w->entries));
   w->extract = allocate(sizeof(*w->extract));
   w->now     = 1000;
   rngSeed(&w->rng, seed ^ 0xB5AD4ECEDA1CE2A9ull);
   rngSeed(&rng, seed);

   setNew(&ids, size);
   setNew(&loads, size);
   while(w->count < size) {
      const uint32_t id = randomId(&rng);
      uint32_t       load;
      if(!setInsert(&ids, id)) {
         continue;
      }
      do {
         load = (uint32_t)rngNext(&rng);
      } while((load == 0) || !setInsert(&loads, load));
      struct PoolElementNode* entry = NULL;
      if(registerPE(w, id, load, &entry) != RSPLIB_OKAY || entry == NULL) {
         fail("building the pool: registration failed");
      }
      w->ids[w->count]     = id;
      w->entries[w->count] = entry;
      w->count++;
   }
   setDelete(&ids);
   setDelete(&loads);
   if(cell->op == OP_TIMER) {
      for(size_t i = 0; i < w->count; i++) {
         reschedule(w, i);
      }
   }
}

static void workloadDelete(struct Workload* w)
{
   HSM(Delete)(w->management);
   free(w->management);
   free(w->ids);
   free(w->entries);
   free(w->extract);
}

/* regdereg: deregister a random PE when the pool is full, else register a
   new one with a fresh random ID. */
static void opRegDereg(struct Workload* w)
{
   if(w->count >= w->size) {
      const size_t                    i  = rngBelow(&w->rng, w->count);
      const PoolElementIdentifierType id = w->ids[i];
      w->count--;
      w->ids[i]     = w->ids[w->count];
      w->entries[i] = w->entries[w->count];
      if(HSM(DeregisterPoolElement)(w->management, &w->pool, id) != RSPLIB_OKAY) {
         w->failures++;
      }
   }
   else {
      const uint32_t id     = randomId(&w->rng);
      const uint32_t load   = (uint32_t)rngNext(&w->rng);
      const size_t   before = HSM(GetPoolElements)(w->management);
      struct PoolElementNode* entry = NULL;
      if(registerPE(w, id, load, &entry) != RSPLIB_OKAY) {
         w->failures++;
      }
      /* A taken ID (chance below 1e-5) makes this an update; the next
         call registers again. */
      else if(HSM(GetPoolElements)(w->management) > before) {
         w->ids[w->count]     = id;
         w->entries[w->count] = entry;
         w->count++;
      }
   }
}

/* rereg: re-register a random PE; LeastUsed with a new random load. */
static void opReReg(struct Workload* w)
{
   const size_t   i    = rngBelow(&w->rng, w->count);
   const uint32_t load = (uint32_t)rngNext(&w->rng);
   struct PoolElementNode* entry;
   if(registerPE(w, w->ids[i], load, &entry) != RSPLIB_OKAY) {
      w->failures++;
   }
}

/* timer: re-schedule a random PE's timer (deactivate + activate). */
static void opTimer(struct Workload* w)
{
   reschedule(w, rngBelow(&w->rng, w->count));
}

/* handleresolution: select h PEs by the pool's policy (MaxIncrement 0 =
   the policy's default, as the registrar passes by default). */
static void opHandleResolution(struct Workload* w)
{
   size_t n = w->items;
   if(HSM(HandleResolution)(w->management, &w->pool, w->out, &n, w->items, 0) != RSPLIB_OKAY) {
      w->failures++;
   }
   Sink += n + (uintptr_t)w->out[0];
}

/* sync: walk the whole handlespace in Handle Table Responses of 128
   entries, reading each entry. Returns the entries seen. */
static size_t opSync(struct Workload* w)
{
   struct HandleTableExtract* extract = w->extract;
   unsigned int               flags   = HANDLE_TABLE_START;
   uint64_t                   sum     = 0;
   size_t                     seen    = 0;

   while(HSM(GetHandleTable)(w->management, OWN_ID, extract, flags, SYNC_BLOCK)) {
      for(size_t k = 0; k < extract->PoolElementNodes; k++) {
         const struct PoolElementNode* e = extract->PoolElementNodeArray[k];
         /* as the Rust workload: ID, lifetime, home, policy; the
            transport by reference (its pointer, not its content) */
         sum += (uint64_t)e->Identifier + e->RegistrationLife + e->HomeRegistrarIdentifier +
                e->PolicySettings.PolicyType + e->PolicySettings.Load +
                (uintptr_t)e->UserTransport;
      }
      seen += extract->PoolElementNodes;
      if(extract->PoolElementNodes < SYNC_BLOCK) {
         break;
      }
      flags = 0;
   }
   Sink += sum;
   return seen;
}

static void step(struct Workload* w)
{
   switch(w->cell.op) {
      case OP_REGDEREG: opRegDereg(w); break;
      case OP_REREG:    opReReg(w); break;
      case OP_TIMER:    opTimer(w); break;
      case OP_HRES:     opHandleResolution(w); break;
      case OP_SYNC:     opSync(w); break;
      default:          break;
   }
}

/* The timing loop of the Rust driver: batches sized from the rate so far,
   so the clock is read about once a millisecond. */
static void runFor(struct Workload* w, double seconds,
                   uint64_t* opsOut, double* wallOut, double* cpuOut)
{
   const double start    = monotonic();
   const double cpuStart = cpuTime();
   uint64_t     ops      = 0;
   uint64_t     batch    = 1;
   for(;;) {
      for(uint64_t i = 0; i < batch; i++) {
         step(w);
      }
      ops += batch;
      const double elapsed = monotonic() - start;
      if(elapsed >= seconds) {
         *opsOut  = ops;
         *wallOut = elapsed;
         *cpuOut  = cpuTime() - cpuStart;
         return;
      }
      const double perOp = elapsed / (double)ops;
      if(perOp > 0.0) {
         double b = CLOCK_EVERY / perOp;
         batch = (b < 1.0) ? 1 : (b > 65536.0) ? 65536 : (uint64_t)b;
      }
      else {
         batch = (batch * 2 > 65536) ? 65536 : batch * 2;
      }
   }
}

/* A distinct, reproducible seed for every measurement. */
static uint64_t cellSeed(uint64_t base, const struct Cell* cell, size_t size, unsigned int rep)
{
   uint64_t h = base ^ 0x6A09E667F3BCC908ull;
   const uint64_t parts[] = {
      (uint64_t)cell->op, (uint64_t)cell->policy,
      ((uint64_t)cell->kind << 8) | cell->value, (uint64_t)size, (uint64_t)rep
   };
   for(size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
      h ^= parts[i];
      h = splitmix(&h);
   }
   return h;
}

/* ====== --check: is the declared layout right? ========================= */

static size_t Checks, CheckFailures;

static void expect(bool ok, const char* what, const char* context)
{
   Checks++;
   if(!ok) {
      CheckFailures++;
      fprintf(stderr, "check FAILED (%s): %s\n", context, what);
   }
}

static int compareU32(const void* a, const void* b)
{
   const uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
   return (x > y) - (x < y);
}

static bool isRegistered(const struct Workload* w, PoolElementIdentifierType id)
{
   for(size_t i = 0; i < w->count; i++) {
      if(w->ids[i] == id) {
         return true;
      }
   }
   return false;
}

/* Counts, checksums, RSPLIB's own Verify, and every entry as registered. */
static void checkState(struct Workload* w, const char* context, bool timers)
{
   char buffer[160];

   HSM(Verify)(w->management);   /* aborts on an inconsistency */
   expect(HSM(GetPools)(w->management) == (w->count > 0 ? 1u : 0u),
          "one pool (none when empty)", context);
   expect(HSM(GetPoolElements)(w->management) == w->count, "PE count", context);
   expect(HSM(GetPoolElementsOfPool)(w->management, &w->pool) == w->count,
          "PEs of the pool", context);
   expect(HSM(GetOwnedPoolElements)(w->management) == ((w->home == OWN_ID) ? w->count : 0),
          "owned PE count", context);
   expect(HSN(GetOwnershipNodesForIdentifier)(w->management, w->home) == w->count,
          "ownership set", context);
   expect(HSN(GetConnectionNodes)(w->management) == (Connections ? w->count : 0),
          "connection set", context);
   expect(HSN(GetTimerNodes)(w->management) == (timers ? w->count : 0), "timer set", context);
   expect(HSN(GetHandlespaceChecksum)(w->management) ==
          HSN(ComputeHandlespaceChecksum)(w->management),
          "handlespace checksum = recomputed", context);
   expect(HSN(GetOwnershipChecksum)(w->management) ==
          HSN(ComputeOwnershipChecksum)(w->management, OWN_ID),
          "ownership checksum = recomputed", context);
   expect(HSM(GetHandlespaceChecksum)(w->management) != 0, "handlespace checksum non-zero",
          context);
   if(w->home == OWN_ID) {
      expect(HSM(GetOwnershipChecksum)(w->management) ==
             HSM(GetHandlespaceChecksum)(w->management),
             "ownership checksum = handlespace checksum (all owned)", context);
   }
   else {
      expect(HSN(GetOwnershipChecksum)(w->management) == 0,
             "ownership checksum accumulator zero (none owned)", context);
   }

   size_t bad = 0;
   for(size_t i = 0; i < w->count; i++) {
      const struct PoolElementNode* e = HSM(FindPoolElement)(w->management, &w->pool, w->ids[i]);
      const struct TransportAddressBlock* t = e ? e->UserTransport : NULL;
      if((e == NULL) || (e != w->entries[i]) || (e->Identifier != w->ids[i]) ||
         (e->HomeRegistrarIdentifier != w->home) || (e->RegistrationLife != LIFETIME_MS) ||
         (e->PolicySettings.PolicyType != POLICY_TYPES[w->cell.policy]) ||
         (e->ConnectionSocketDescriptor != (Connections ? ASAP_SOCKET : -1)) ||
         (e->ConnectionAssocID != (Connections ? (AssocId)(w->ids[i] & 0x7fffffffu) : 0)) ||
         (t == NULL) || (t->Port != PE_PORT) || (t->Protocol != IPPROTO_SCTP) ||
         (t->Flags != ADDRESS_BLOCK_CONTROL_CHANNEL) || (t->Addresses != 1) ||
         (t->AddressArray[0].in.sin_family != AF_INET) ||
         (ntohl(t->AddressArray[0].in.sin_addr.s_addr) != ((10u << 24) | (w->ids[i] & 0xffu))) ||
         (timers && (e->TimerCode != ((w->home == OWN_ID) ? TIMER_KEEPALIVE_TRANSMISSION
                                                            : TIMER_EXPIRY)))) {
         bad++;
      }
   }
   snprintf(buffer, sizeof(buffer), "every PE found with its fields (%zu wrong)", bad);
   expect(bad == 0, buffer, context);

   /* sync sees every PE once, in ceil(N/128) blocks */
   struct U32Set seen;
   setNew(&seen, w->count);
   size_t       entries = 0, duplicates = 0, unknown = 0, blocks = 0;
   unsigned int flags   = HANDLE_TABLE_START;
   while(HSM(GetHandleTable)(w->management, OWN_ID, w->extract, flags, SYNC_BLOCK)) {
      blocks++;
      for(size_t k = 0; k < w->extract->PoolElementNodes; k++) {
         const struct PoolElementNode* e = w->extract->PoolElementNodeArray[k];
         duplicates += !setInsert(&seen, e->Identifier);
         unknown += (HSM(FindPoolElement)(w->management, &w->pool, e->Identifier) != e);
      }
      entries += w->extract->PoolElementNodes;
      if(w->extract->PoolElementNodes < SYNC_BLOCK) {
         break;
      }
      flags = 0;
   }
   setDelete(&seen);
   snprintf(buffer, sizeof(buffer), "sync: %zu entries in %zu blocks, %zu duplicates, %zu unknown",
            entries, blocks, duplicates, unknown);
   expect(entries == w->count && duplicates == 0 && unknown == 0 &&
          blocks == (w->count + SYNC_BLOCK - 1) / SYNC_BLOCK,
          buffer, context);
   expect(opSync(w) == w->count, "sync operation sees N entries", context);
}

static void checkResolution(struct Workload* w, const char* context)
{
   char buffer[160];
   for(size_t h = 1; h <= 3; h++) {
      struct PoolElementNode* out[3] = { NULL, NULL, NULL };
      size_t n = h;
      const unsigned int rc = HSM(HandleResolution)(w->management, &w->pool, out, &n, h, 0);
      bool ok = (rc == RSPLIB_OKAY) && (n == (h < w->count ? h : w->count));
      for(size_t k = 0; ok && k < n; k++) {
         ok = (out[k] != NULL) && isRegistered(w, out[k]->Identifier);
         for(size_t j = 0; ok && j < k; j++) {
            ok = (out[j] != out[k]);
         }
      }
      snprintf(buffer, sizeof(buffer), "h=%zu: %zu distinct registered PEs", h, h);
      expect(ok, buffer, context);

      if(ok && w->cell.policy == POL_LEASTUSED) {
         /* the h least loaded entries, least first */
         uint32_t* loads = allocate(w->count * sizeof(uint32_t));
         for(size_t i = 0; i < w->count; i++) {
            loads[i] = w->entries[i]->PolicySettings.Load;
         }
         qsort(loads, w->count, sizeof(uint32_t), compareU32);
         for(size_t k = 0; k < n; k++) {
            ok = ok && (out[k]->PolicySettings.Load == loads[k]);
         }
         free(loads);
         snprintf(buffer, sizeof(buffer), "LeastUsed h=%zu: the least loaded PEs in order", h);
         expect(ok, buffer, context);
      }
   }
   if(w->cell.policy == POL_ROUNDROBIN) {
      /* N resolutions of one PE visit every PE once */
      struct U32Set seen;
      size_t        distinct = 0;
      setNew(&seen, w->count);
      for(size_t i = 0; i < w->count; i++) {
         struct PoolElementNode* out[1];
         size_t n = 1;
         HSM(HandleResolution)(w->management, &w->pool, out, &n, 1, 0);
         distinct += (n == 1) && setInsert(&seen, out[0]->Identifier);
      }
      setDelete(&seen);
      snprintf(buffer, sizeof(buffer), "RoundRobin: %zu resolutions, %zu distinct PEs",
               w->count, distinct);
      expect(distinct == w->count, buffer, context);
   }
   if(w->cell.policy == POL_RANDOM) {
      /* selection is spread over the pool */
      struct U32Set seen;
      size_t        distinct = 0;
      setNew(&seen, w->count);
      for(size_t i = 0; i < 4 * w->count; i++) {
         struct PoolElementNode* out[1];
         size_t n = 1;
         HSM(HandleResolution)(w->management, &w->pool, out, &n, 1, 0);
         distinct += (n == 1) && setInsert(&seen, out[0]->Identifier);
      }
      setDelete(&seen);
      snprintf(buffer, sizeof(buffer), "Random: %zu resolutions hit %zu of %zu PEs",
               4 * w->count, distinct, w->count);
      expect(distinct > w->count / 2, buffer, context);
   }
}

static int runCheck(const size_t* sizes, size_t sizeCount)
{
   for(size_t s = 0; s < sizeCount; s++) {
      const size_t size = sizes[s];
      for(size_t c = 0; c < CELL_COUNT; c++) {
         const struct Cell* cell = &CELLS[c];
         struct Workload    w;
         char               variant[32], context[128];
         variantName(cell, variant, sizeof(variant));
         snprintf(context, sizeof(context), "%s %s %s N=%zu", OP_NAMES[cell->op],
                  POLICY_NAMES[cell->policy], variant, size);
         const size_t before = CheckFailures;

         workloadBuild(&w, cell, size, cellSeed(7, cell, size, 1));
         const bool timers = (cell->op == OP_TIMER) || RegistrarTimers;
         checkState(&w, context, timers);
         if(cell->op == OP_HRES) {
            checkResolution(&w, context);
         }
         if(timers) {
            /* the earliest timer is the one scheduled first of those left */
            const struct PoolElementNode* first = HSN(GetFirstPoolElementTimerNode)(w.management);
            unsigned long long earliest = ~0ull;
            for(size_t i = 0; i < w.count; i++) {
               if(w.entries[i]->TimerTimeStamp < earliest) {
                  earliest = w.entries[i]->TimerTimeStamp;
               }
            }
            expect(first != NULL && first->TimerTimeStamp == earliest,
                   "first timer node is the earliest", context);
         }
         const size_t steps = 2 * size + 1;   /* odd: regdereg ends one short */
         for(size_t i = 0; i < steps; i++) {
            step(&w);
         }
         expect(w.failures == 0, "no RSPLIB call failed while running", context);
         if(cell->op == OP_REGDEREG) {
            expect(w.count == size - 1, "regdereg after an odd number of steps: N-1 PEs",
                   context);
         }
         else {
            expect(w.count == size, "pool keeps N PEs", context);
         }
         if(cell->op == OP_REREG && cell->policy == POL_LEASTUSED) {
            size_t changed = 0;
            for(size_t i = 0; i < w.count; i++) {
               changed += (w.entries[i]->PolicySettings.Load != 0);
            }
            expect(changed == w.count, "rereg keeps loads set", context);
         }
         snprintf(context + strlen(context), sizeof(context) - strlen(context),
                  " after %zu operations", steps);
         checkState(&w, context, timers);
         fprintf(stderr, "check %-44s %s (handlespace checksum $%04x, ownership $%04x)\n",
                 context, (CheckFailures == before) ? "ok" : "FAILED",
                 HSM(GetHandlespaceChecksum)(w.management),
                 HSM(GetOwnershipChecksum)(w.management));
         workloadDelete(&w);
      }
   }
   fprintf(stderr, "%zu checks, %zu failed\n", Checks, CheckFailures);
   return (CheckFailures == 0) ? 0 : 1;
}

/* ====== Command line =================================================== */

static void usage(void)
{
   fputs("usage: harness [--check] [--sizes N,N,...] [--seconds S] [--reps R]\n"
         "               [--ops regdereg,rereg,timer,handleresolution,sync]\n"
         "               [--policies RoundRobin,Random,LeastUsed] [--seed S]\n"
         "               [--bare | --no-connections | --no-registrar-timers]\n"
         "Measures RSPLIB 3.4.4's handlespace (librsphsmgt) with the workload of\n"
         "`rserpool bench handlespace`; CSV on stdout, progress on stderr.\n"
         "--check verifies the declared RSPLIB layout by behaviour instead.\n"
         "By default a registration goes through the PE's association (connection\n"
         "set) and restarts the PE's timer, as RSPLIB's registrar does.\n"
         "--no-connections: PEs registered without an association.\n"
         "--no-registrar-timers: registrations leave the PE's timer alone.\n"
         "--bare: both; only the handlespace's own registration call.\n",
         stderr);
   exit(2);
}

static bool listHas(const char* list, const char* name)
{
   if(list == NULL) {
      return true;
   }
   const size_t n = strlen(name);
   for(const char* p = list; *p;) {
      const char*  comma = strchr(p, ',');
      const size_t len   = comma ? (size_t)(comma - p) : strlen(p);
      if(len == n && strncmp(p, name, n) == 0) {
         return true;
      }
      p += len + (comma ? 1 : 0);
   }
   return false;
}

static bool listValid(const char* list, const char* const* names, size_t count)
{
   if(list == NULL) {
      return true;
   }
   for(const char* p = list; *p;) {
      const char*  comma = strchr(p, ',');
      const size_t len   = comma ? (size_t)(comma - p) : strlen(p);
      bool         found = false;
      for(size_t i = 0; i < count; i++) {
         found = found || (strlen(names[i]) == len && strncmp(p, names[i], len) == 0);
      }
      if(!found) {
         return false;
      }
      p += len + (comma ? 1 : 0);
   }
   return true;
}

int main(int argc, char** argv)
{
   size_t       sizes[64] = { 1000, 5000, 10000, 20000, 30000 };
   size_t       sizeCount = 5;
   double       seconds   = 2.0;
   unsigned int reps      = 3;
   uint64_t     seed      = 1;
   bool         check     = false;
   bool         sizesSet  = false;
   const char*  ops       = NULL;
   const char*  policies  = NULL;

   for(int i = 1; i < argc; i++) {
      const char* arg   = argv[i];
      const char* value = (i + 1 < argc) ? argv[i + 1] : NULL;
      char*       end;
      if(strcmp(arg, "--check") == 0) {
         check = true;
         continue;
      }
      if(strcmp(arg, "--no-registrar-timers") == 0) {
         RegistrarTimers = false;
         continue;
      }
      if(strcmp(arg, "--no-connections") == 0) {
         Connections = false;
         continue;
      }
      if(strcmp(arg, "--bare") == 0) {
         Connections     = false;
         RegistrarTimers = false;
         continue;
      }
      if(value == NULL) {
         usage();
      }
      i++;
      errno = 0;
      if(strcmp(arg, "--sizes") == 0) {
         sizeCount = 0;
         sizesSet  = true;
         for(const char* p = value; *p;) {
            const unsigned long long n = strtoull(p, &end, 10);
            if(end == p || n == 0 || n > 10000000 || sizeCount == 64 ||
               (*end != ',' && *end != '\0')) {
               usage();
            }
            sizes[sizeCount++] = (size_t)n;
            p = (*end == ',') ? end + 1 : end;
         }
         if(sizeCount == 0) {
            usage();
         }
      }
      else if(strcmp(arg, "--seconds") == 0) {
         seconds = strtod(value, &end);
         if(*end != '\0' || !(seconds > 0.0) || errno) {
            usage();
         }
      }
      else if(strcmp(arg, "--reps") == 0) {
         const unsigned long n = strtoul(value, &end, 10);
         if(*end != '\0' || n == 0 || n > 1000) {
            usage();
         }
         reps = (unsigned int)n;
      }
      else if(strcmp(arg, "--seed") == 0) {
         seed = strtoull(value, &end, 10);
         if(*end != '\0' || errno) {
            usage();
         }
      }
      else if(strcmp(arg, "--ops") == 0) {
         ops = value;
      }
      else if(strcmp(arg, "--policies") == 0) {
         policies = value;
      }
      else {
         usage();
      }
   }
   if(!listValid(ops, OP_NAMES, OP_COUNT) || !listValid(policies, POLICY_NAMES, POL_COUNT)) {
      usage();
   }

   if(check) {
      if(!sizesSet) {
         sizes[0] = 1;  sizes[1] = 128;  sizes[2] = 1000;  sizeCount = 3;
      }
      return runCheck(sizes, sizeCount);
   }

   size_t total = 0;
   for(size_t c = 0; c < CELL_COUNT; c++) {
      total += listHas(ops, OP_NAMES[CELLS[c].op]) &&
               listHas(policies, POLICY_NAMES[CELLS[c].policy]);
   }
   total *= sizeCount * reps;
   if(total == 0) {
      fputs("harness: no cell selected\n", stderr);
      return 2;
   }

   printf("impl,operation,policy,variant,pool_size,ops_per_sec,repetition,ops,wall_s,cpu_s\n");
   fflush(stdout);
   size_t done = 0;
   for(unsigned int rep = 1; rep <= reps; rep++) {
      for(size_t c = 0; c < CELL_COUNT; c++) {
         const struct Cell* cell = &CELLS[c];
         if(!listHas(ops, OP_NAMES[cell->op]) || !listHas(policies, POLICY_NAMES[cell->policy])) {
            continue;
         }
         for(size_t s = 0; s < sizeCount; s++) {
            struct Workload w;
            uint64_t        count;
            double          wall, cpu;
            char            variant[32];
            variantName(cell, variant, sizeof(variant));
            workloadBuild(&w, cell, sizes[s], cellSeed(seed, cell, sizes[s], rep));
            runFor(&w, seconds, &count, &wall, &cpu);
            if(w.failures > 0) {
               fprintf(stderr, "harness: %zu RSPLIB calls failed in %s %s %s N=%zu\n",
                       w.failures, OP_NAMES[cell->op], POLICY_NAMES[cell->policy],
                       variant, sizes[s]);
               return 1;
            }
            const double rate = (double)count / wall;
            printf("rsplib,%s,%s,%s,%zu,%.1f,%u,%llu,%.6f,%.6f\n", OP_NAMES[cell->op],
                   POLICY_NAMES[cell->policy], variant, sizes[s], rate, rep,
                   (unsigned long long)count, wall, cpu);
            fflush(stdout);
            fprintf(stderr, "[%zu/%zu] rsplib %s %s %s N=%zu rep %u: %.0f/s\n", ++done, total,
                    OP_NAMES[cell->op], POLICY_NAMES[cell->policy], variant, sizes[s], rep,
                    rate);
            workloadDelete(&w);
         }
      }
   }
   return 0;
}
