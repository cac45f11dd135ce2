"""Latest ledger, accounts and fees: the same answers from Horizon and from RPC."""

from decimal import Decimal

from stellar_sdk import Keypair, Signer

from anchor_dramatiq.network.answers import AccountMissing, AccountState, FeeBid, LedgerHead, NoReply
from anchor_dramatiq.network.horizon import HorizonNetwork
from anchor_dramatiq.network.rpc import RpcNetwork


def test_latest_ledger(network, sim):
    sim.wait_for_ledgers(1)
    head = network.latest_ledger()
    assert isinstance(head, LedgerHead)
    assert abs(head.sequence - sim.latest_ledger) <= 1 and head.closed_at > 1_600_000_000


def test_an_existing_account_with_signers_thresholds_and_trustlines(network, payer):
    holder = payer.funded()
    usd = payer.issue("USD", [holder], amount="12.5")
    eur = payer.issue("EUR", [])
    signer = Keypair.random()
    payer.submit(holder, lambda b: b.append_set_options_op(
        signer=Signer.ed25519_public_key(signer.public_key, 2),
        low_threshold=1, med_threshold=2, high_threshold=3))
    answer = network.accounts([holder.public_key], [(usd.code, usd.issuer), (eur.code, eur.issuer)])
    state = answer[holder.public_key]
    assert isinstance(state, AccountState)
    assert state.thresholds == (1, 1, 2, 3)
    assert [(s.key, s.weight) for s in state.signers] == [(signer.public_key, 2)]
    line = state.trustline(usd.code, usd.issuer)
    assert line is not None and line.balance == Decimal("12.5000000") and line.authorized
    assert line.limit == Decimal("922337203685.4775807")
    assert state.trustline(eur.code, eur.issuer) is None  # asked, not trusted
    assert state.sequence > 0 and state.latest_ledger is not None
    assert state.latest_ledger >= state.last_modified_ledger


def test_an_unknown_account_is_missing_with_the_ledger_that_says_so(network):
    unknown = Keypair.random().public_key
    answer = network.accounts([unknown])[unknown]
    assert isinstance(answer, AccountMissing) and answer.latest_ledger > 0


def test_250_accounts_in_one_call(network, payer, sim):
    existing = [payer.funded().public_key for _ in range(5)]
    missing = [Keypair.random().public_key for _ in range(245)]
    usd = ("USD", Keypair.random().public_key)
    answers = network.accounts(existing + missing, [usd])
    assert len(answers) == 250
    assert all(isinstance(answers[a], AccountState) for a in existing)
    assert all(isinstance(answers[a], AccountMissing) for a in missing)


def test_rpc_batches_within_the_key_limit(sim, payer, monkeypatch):
    """250 accounts with two assets each: 750 keys in 4 getLedgerEntries requests (200 at most)."""
    net = RpcNetwork(sim.url + "/rpc", sim.passphrase)
    sizes = []
    real = net.server.get_ledger_entries
    monkeypatch.setattr(net.server, "get_ledger_entries",
                        lambda keys: sizes.append(len(keys)) or real(keys))
    accounts = [Keypair.random().public_key for _ in range(250)]
    answers = net.accounts(accounts, [("USD", Keypair.random().public_key),
                                      ("EUR", Keypair.random().public_key)])
    assert max(sizes) <= 200 and sum(sizes) == 750 and len(sizes) == 4
    assert all(isinstance(a, AccountMissing) for a in answers.values())


def test_fee_bid_is_at_least_the_base_fee_and_capped(network):
    bid = network.fee_bid(cap=5000)
    assert isinstance(bid, FeeBid) and 100 <= bid.base_fee <= 5000
    assert network.fee_bid(cap=100).base_fee == 100


def test_a_dead_url_is_no_reply():
    for net in (HorizonNetwork("http://127.0.0.1:9", timeout=2),
                RpcNetwork("http://127.0.0.1:9/rpc", "Test", timeout=2)):
        account = Keypair.random().public_key
        assert isinstance(net.latest_ledger(), NoReply)
        assert isinstance(net.accounts([account])[account], NoReply)
        assert isinstance(net.fee_bid(1000), NoReply)
        assert isinstance(net.fate("00" * 32), NoReply)
        net.close()
