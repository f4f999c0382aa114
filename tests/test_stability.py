"""Stability verdicts against hand formulas, 50-digit eigenvalues and ngspice transients.

``netlist/mna.py`` + ``netlist/stability.py`` are checked three ways: decks whose poles and
H(s) are known in closed form; random OCB circuits of both recipes against mpmath
eigenvalues of the same pencil, the QZ path and the independent nodal solver
(tests/nodal.py); and the ngspice program's own step response (``netlist/transient.py``).
"""

from __future__ import annotations

import math
import random
import shutil

import mpmath as mp
import numpy as np
import pytest
from nodal import OCB_FREQ_HZ, solve_testbench

from cktgen_eda.data.generator import generate
from cktgen_eda.data.recipes import get_recipe
from cktgen_eda.errors import NetlistError
from cktgen_eda.netlist import transient as tr
from cktgen_eda.netlist.measure import loop_margin, measure_opamp
from cktgen_eda.netlist.mna import pencil_from_deck, pencil_from_testbench
from cktgen_eda.netlist.spice import write_spice
from cktgen_eda.netlist.stability import analyse, analyse_many, closed_loop, is_stable
from cktgen_eda.netlist.testbench import build_testbench

EPS = float(np.finfo(float).eps)
W = 2 * np.pi * OCB_FREQ_HZ  # the OCB sweep in rad/s
needs_ngspice_program = pytest.mark.skipif(
    shutil.which("ngspice") is None, reason="the ngspice program is not installed"
)


def deck(body: str) -> str:
    """A deck: title, the AC source on ``in``, ``body``, ``.end``."""
    return f"* test deck\nV0 in 0 DC 0 AC 1\n{body.strip()}\n.end\n"


def assert_poles(got, want, rel: float = 1e-9) -> None:
    """Same multiset of poles within ``rel`` of the largest one."""
    got, want = np.sort_complex(np.asarray(got)), np.sort_complex(np.asarray(want, complex))
    assert got.shape == want.shape, (got, want)
    np.testing.assert_allclose(got, want, rtol=0, atol=rel * np.abs(want).max())


# --- decks with closed-form answers -------------------------------------------------------

RC = deck("R1 in out 1k\nC1 out 0 1n")  # pole −1/RC = −1e6 rad/s


def test_rc_lowpass():
    p = pencil_from_deck(RC)
    st = analyse(p)
    assert_poles(st.poles, [-1e6])
    assert (st.stable, st.cl_stable, st.sign) == (True, True, 1)
    assert st.dc_gain == pytest.approx(1.0, rel=1e-12)
    # follower: T = H/(1 + H) = 1/(2 + sRC): pole −2/RC, step 0.5·(1 − e^{−2t/RC})
    assert_poles(st.cl_poles, [-2e6])
    assert st.settling_s == pytest.approx(1e-6 * math.log(100) / 2, rel=2e-3)
    assert analyse_many([p])[0].stable is True


GM, RL, CL = 1e-3, 1e6, 50e-15
GM_STAGE = deck(f"G1 out 0 in 0 {GM}\nRL out 0 1Meg\nCL out 0 50f")  # SPICE +gm: inverting


def test_inverting_gm_stage():
    p = pencil_from_deck(GM_STAGE)
    st = analyse(p)
    assert st.dc_gain == pytest.approx(-GM * RL, rel=1e-12)
    assert_poles(st.poles, [-1 / (RL * CL)])
    assert (st.stable, st.cl_stable, st.sign) == (True, True, -1)
    # closed with k = −1: T = H/(1 − H), pole −(1 + gm·R)/(RC)
    assert_poles(st.cl_poles, [-(1 + GM * RL) / (RL * CL)])
    h = p.transfer(1j * W)
    m = measure_opamp(OCB_FREQ_HZ, h).with_stability(st)
    assert m.inverting is True
    # loop L = gm·R/(1 + sRC) crosses 0 dB where ωRC = √((gm·R)² − 1): PM = 180° − atan(that)
    pm = 180 - math.degrees(math.atan(math.sqrt((GM * RL) ** 2 - 1)))
    assert loop_margin(h, st.sign) == pytest.approx(pm, abs=0.05)
    assert pm > 90
    assert m.pm_deg == pytest.approx(pm - 180, abs=0.05)  # the benchmark's PM: 180° + ∠H


def test_miller_across_non_inverting_stage_is_unstable():
    """Cc around a non-inverting stage is positive feedback: det = a2·s² + a1·s + a0 with
    a1 = G1(C2 + Cc) + G2(C1 + Cc) − gm2·Cc < 0, so both poles lie in the right half plane,
    while the Bode plot's benchmark PM looks healthy."""
    g, c, cc, gm1, gm2 = 1e-6, 50e-15, 1e-12, 1e-4, 1e-3
    p = pencil_from_deck(
        deck(
            f"G1 n1 0 in 0 {gm1}\nR1 n1 0 1Meg\nC1 n1 0 50f\n"
            f"G2 out 0 n1 0 {-gm2}\nR2 out 0 1Meg\nC2 out 0 50f\nCC n1 out 1p"
        )
    )
    a2, a1, a0 = c * c + cc * 2 * c, 2 * g * (c + cc) - gm2 * cc, g * g
    st = analyse(p)
    assert_poles(st.poles, np.roots([a2, a1, a0]))
    assert all(z.real > 0 for z in st.poles)
    assert st.stable is False and st.cl_stable is False
    assert st.dc_gain == pytest.approx(-gm1 * gm2 / g**2, rel=1e-9)
    m = measure_opamp(OCB_FREQ_HZ, p.transfer(1j * W))
    assert m.valid and 45 < m.pm_deg < 180  # "fine" by the benchmark's rule …
    assert loop_margin(p.transfer(1j * W), st.sign) < 0  # … the loop margin is not


def test_lossless_lc_tank_is_not_stable():
    """Poles on the axis (±j/√(L(C1 + C2))) are not stable: the tolerance rule."""
    p = pencil_from_deck(deck("C1 in out 1n\nL1 out 0 1u\nC2 out 0 1n"))
    st = analyse(p)
    w0 = 1 / math.sqrt(1e-6 * 2e-9)
    assert_poles(st.poles, [1j * w0, -1j * w0])
    assert st.stable is False
    s = 1j * np.array([1e6, 3e7, 1e9])  # H = s²LC1/(s²L(C1 + C2) + 1)
    np.testing.assert_allclose(p.transfer(s), s**2 * 1e-15 / (s**2 * 2e-15 + 1), rtol=1e-9)
    plan = tr.plan_for(p, st)
    assert plan.marginal and tr.Check(False, False, 0.0, plan, None).agrees is None


def test_ideal_integrator():
    """A pole at s = 0: not stable, infinite DC gain; the follower gm/(sC + gm) is stable."""
    st = analyse(pencil_from_deck(deck("G1 out 0 in 0 -1m\nC1 out 0 1p")))
    assert_poles(st.poles, [0.0])
    assert st.stable is False and st.dc_gain is None and st.sign == 1
    assert st.cl_stable is True
    assert_poles(st.cl_poles, [-1e9])


def test_l_and_e_elements():
    """E buffer ×2 into an R–L high-pass: H = 2·sL/(R + sL), pole −R/L."""
    p = pencil_from_deck(deck("E1 mid 0 in 0 2\nR1 mid out 1k\nL1 out 0 1m"))
    s = 1j * np.logspace(3, 9, 7)
    np.testing.assert_allclose(p.transfer(s), 2 * s * 1e-3 / (1e3 + s * 1e-3), rtol=1e-12)
    st = analyse(p)
    assert_poles(st.poles, [-1e6])
    assert st.stable is True and st.dc_gain == 0.0 and st.sign == 1


def test_subcircuit_deck():
    """Two RC sections as X instances (upper case, a + continuation): H = 1/(x² + 3x + 1),
    x = sRC, poles x = (−3 ± √5)/2."""
    text = (
        "* two sections\n.SUBCKT STAGE A B\nR1 A B 1k\nC1 B 0\n+ 1n\n.ENDS\n"
        "V0 IN 0 DC 0 AC 1\nX1 IN MID STAGE\nX2 MID OUT STAGE\n.END\n"
    )
    p = pencil_from_deck(text)
    assert "x1.b" not in p.unknowns and "mid" in p.unknowns  # pins map to the outer nets
    x = 1j * np.logspace(4, 8, 5) * 1e-6
    np.testing.assert_allclose(p.transfer(x / 1e-6), 1 / (x**2 + 3 * x + 1), rtol=1e-12)
    assert_poles(analyse(p).poles, [(-3 + math.sqrt(5)) / 2e-6, (-3 - math.sqrt(5)) / 2e-6])


@pytest.mark.parametrize(
    "body", [".param rv=1k\nR1 in out {rv}\nC1 out 0 1n", "R1 in out 1k\nC1 out 0 {1n*2}"]
)
def test_parameters_are_a_netlist_error(body):
    with pytest.raises(NetlistError, match="line"):
        pencil_from_deck(deck(body))


@pytest.mark.ngspice
def test_parameter_deck_stability_unknown(tmp_path):
    """ngspice measures the deck; stability is reported unknown, with the reason."""
    from cktgen_eda.netlist.ngspice import verify

    path = tmp_path / "param.cir"
    path.write_text(deck(".param rv=1k\nR1 in x {rv}\nG1 out 0 x 0 1m\nRL out 0 1Meg"))
    m = verify([path], workers=1)[0].measurement
    assert m.gain_db == pytest.approx(60.0, abs=0.01)
    assert m.stable is None and m.cl_stable is None and "line" in m.stability_reason


# --- random circuits: 50-digit eigenvalues, QZ path, nodal solver --------------------------

N_PER_RECIPE = 200


@pytest.fixture(scope="module")
def random_set():
    """200 random circuits per recipe (fresh topology each): circuits, decks, pencils and
    the batched verdicts."""
    out = []
    for seed, name in enumerate(("ocb101", "ocb301")):
        settings = get_recipe(name).settings
        for _, c in generate(random.Random(7000 + seed), N_PER_RECIPE, 1, settings):
            out.append((c, write_spice(c)))
    circuits, texts = zip(*out)
    pencils = [pencil_from_deck(t) for t in texts]
    return circuits, texts, pencils, analyse_many(pencils)


def mp_poles(g: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Finite roots of det(G + sC) with 50 digits: 1/μ for the eigenvalues μ of −G⁻¹C,
    dropping |μ| ≤ 1e-20·max|μ| (infinite poles compute as μ ≈ 1e-50, or 1e-25 inside a
    2×2 Jordan block; finite ones span < 1e15)."""
    with mp.workdps(50):
        mu = mp.eig(-(mp.inverse(mp.matrix(g.tolist())) * mp.matrix(c.tolist())), False, False)
        big = max(abs(m) for m in mu)
        return np.array([complex(1 / m) for m in mu if abs(m) > mp.mpf("1e-20") * big])


def mp_sign(p) -> int:
    """sgn H(0) with 50 digits; +1 when H(0) is exactly 0 (≤ 1e-40 of the DC solution)."""
    with mp.workdps(50):
        x = mp.lu_solve(mp.matrix(p.g.tolist()), -mp.matrix(p.g_in.tolist()))
        zero = abs(x[p.out]) <= mp.mpf("1e-40") * max(abs(v) for v in x)
        return 1 if zero or x[p.out] > 0 else -1


def assert_close_poles(got, ref, where: str) -> None:
    """Each 50-digit pole matched by a computed one within 1e-4·|p| + 1e6·ε·max|p|.

    A backward-stable eigensolver errs by about κ·ε·‖A‖ ≈ κ·ε·max|p| (κ: the pole's
    condition number). The pencils span 1e-2…1e11 rad/s, so a tiny pole can be off by
    1e-4 of itself; in 2,400 circuits (benchmarks/stability_crosscheck.py) the worst was
    9.6e-5·|p|, and 1.3e5·ε·max|p| for a mid-size pole. What the verdict needs, |Δp| <
    |Re p| for every pole, held there with a margin of 1e4; the test checks the verdicts
    of the 50-digit poles directly.
    """
    got, ref = np.asarray(got, complex), np.asarray(ref, complex)
    assert got.size == ref.size, f"{where}: {got} vs {ref}"
    left, scale = list(got), 1e6 * EPS * np.abs(ref).max()
    for z in sorted(ref, key=abs, reverse=True):
        w = left.pop(int(np.argmin([abs(z - x) for x in left])))
        assert abs(w - z) <= 1e-4 * abs(z) + scale, f"{where}: {w} vs 50-digit {z}"


def test_batched_poles_match_50_digit_eigenvalues(random_set):
    _, _, pencils, many = random_set
    for i, (p, st) in enumerate(zip(pencils, many)):
        ref = mp_poles(p.g, p.c)
        assert_close_poles(st.poles, ref, f"circuit {i} open loop")
        sign = mp_sign(p)
        cl = closed_loop(p, sign)
        ref_cl = mp_poles(cl.g, cl.c)
        assert_close_poles(st.cl_poles, ref_cl, f"circuit {i} closed loop")
        assert (st.sign, st.stable, st.cl_stable) == (sign, is_stable(ref), is_stable(ref_cl))


def test_qz_path_gives_the_same_verdicts(random_set):
    _, _, pencils, many = random_set
    for i, (p, st) in enumerate(zip(pencils, many)):
        qz = analyse(p)
        assert (qz.stable, qz.cl_stable, qz.sign) == (st.stable, st.cl_stable, st.sign), i
        if st.settling_s is not None:
            assert qz.settling_s == pytest.approx(st.settling_s, rel=1e-3), i


def test_pencil_h_matches_nodal_solver(random_set):
    circuits, _, pencils, _ = random_set
    for i, (c, p) in enumerate(zip(circuits, pencils)):
        ref = solve_testbench(c)
        np.testing.assert_allclose(p.transfer(1j * W), ref, rtol=1e-9, err_msg=f"circuit {i}")
        tb = pencil_from_testbench(build_testbench(c))  # the no-parse path: same matrices
        np.testing.assert_array_equal(tb.g, p.g)
        np.testing.assert_array_equal(tb.c, p.c)


def test_both_verdicts_occur(random_set):
    """The sets below need both kinds (shares ≈ 1/3 stable, 1/10 cl-stable)."""
    many = random_set[3]
    assert sum(s.stable for s in many) >= 100 and sum(not s.stable for s in many) >= 100
    assert sum(s.cl_stable for s in many) >= 20


# --- ngspice transients --------------------------------------------------------------------


def pick(random_set, key: str, n: int) -> list[int]:
    """The first n circuits per recipe with the verdict True and n with False."""
    many = random_set[3]
    out = []
    for start in (0, N_PER_RECIPE):
        block = range(start, start + N_PER_RECIPE)
        for want in (True, False):
            out += [i for i in block if getattr(many[i], key) is want][:n]
    return out


def run_checks(random_set, idx: list[int], closed: bool) -> list[tr.Check]:
    _, texts, pencils, many = random_set
    return tr.check_decks(
        [texts[i] for i in idx],
        closed,
        stabilities=[many[i] for i in idx],
        pencils=[pencils[i] for i in idx],
    )


@pytest.mark.ngspice
@needs_ngspice_program
def test_open_loop_transient_grows_exactly_when_unstable(random_set):
    idx = pick(random_set, "stable", 30)  # 60 stable + 60 unstable, both recipes
    checks = run_checks(random_set, idx, closed=False)
    assert sum(c.stable for c in checks) >= 50 and sum(not c.stable for c in checks) >= 50
    for i, c in zip(idx, checks):
        assert c.error is None, f"circuit {i}: {c.error}"
        assert c.agrees, (
            f"circuit {i}: stable={c.stable}, peak {c.peak:.3g} vs B {c.plan.bound:.3g}"
        )


@pytest.mark.ngspice
@needs_ngspice_program
def test_closed_loop_transient_grows_exactly_when_cl_unstable(random_set):
    idx = pick(random_set, "cl_stable", 10)
    checks = run_checks(random_set, idx, closed=True)
    assert sum(c.stable for c in checks) == 20
    for i, c in zip(idx, checks):
        assert c.error is None and c.agrees, f"circuit {i}: {c}"


@pytest.mark.ngspice
@needs_ngspice_program
def test_settling_time_matches_follower_transient(random_set):
    """Within 1 % plus half a period of the fastest ringing pole: a ringing peak that
    grazes the band moves the last exit by a half period."""
    _, texts, pencils, many = random_set
    idx = [i for i in pick(random_set, "cl_stable", 3) if many[i].cl_stable]
    plans = [tr.settling_plan(pencils[i], many[i]) for i in idx]
    decks = [tr.transient_deck(texts[i], pl, closed_sign=many[i].sign) for i, pl in zip(idx, plans)]
    for i, pl, wave in zip(idx, plans, tr.run_decks(decks)):
        st = many[i]
        cl = closed_loop(pencils[i], st.sign)
        final = np.linalg.solve(cl.g, -cl.g_in)[cl.out] * tr.AMPLITUDE
        assert wave.out[-1] == pytest.approx(final, rel=0.01)  # settled by 3 × settling_s
        osc = max(abs(z.imag) for z in st.cl_poles)
        tol = 0.01 * st.settling_s + (math.pi / osc if osc else 0.0)
        assert tr.settling_time(wave, final, pl) == pytest.approx(st.settling_s, abs=tol), i


@pytest.mark.ngspice
@needs_ngspice_program
def test_growth_behind_a_shorted_output_is_seen():
    """out is tied to in by a 0 Ω resistor (H ≡ 1) while the stages behind it have two
    right-half-plane poles (Cc across a non-inverting stage): the output stays flat, the
    internal nets grow, and the check watches every net."""
    text = deck(
        "VR1 out in 0\nG1 n1 0 in 0 1m\nR1 n1 0 1Meg\nC1 n1 0 50f\n"
        "G2 n2 0 n1 0 -1m\nR2 n2 0 1Meg\nC2 n2 0 50f\nCC n1 n2 1p\nG3 out 0 n2 0 1m"
    )
    p = pencil_from_deck(text)
    np.testing.assert_allclose(p.transfer(1j * W[::100]), 1.0, rtol=1e-12)
    (check,) = tr.check_decks([text])
    assert check.stable is False and check.grows and check.agrees
    assert check.net in ("n1", "n2") and check.peak <= check.plan.bound


def test_transient_deck_cards():
    p = pencil_from_deck(GM_STAGE)
    st = analyse(p)
    plan = tr.plan_for(p, st)
    text = tr.transient_deck(GM_STAGE, plan).lower()
    assert "method=trap" in text and "gear" not in text and " uic" in text
    assert "v0 in 0 pwl(0 0 " in text and ".ac " not in text and ".save v(out)" in text
    closed = tr.transient_deck(GM_STAGE, plan, closed_sign=-1).lower()
    assert f"v0 {tr.U_NET} 0 pwl(" in closed and f"e_cktgen_loop in {tr.U_NET} out 0 1" in closed
    # stable: 10 slowest time constants; the bound is (4n + 1)·u·max|H| = 5·1e-6·1000
    assert plan.t_stop == pytest.approx(10 * RL * CL)
    assert plan.bound == pytest.approx(5e-6 * GM * RL, rel=1e-6)


@pytest.mark.ngspice
@needs_ngspice_program
def test_runs_ignore_user_init_files(tmp_path, monkeypatch):
    """A .spiceinit in HOME or the working folder asking for ASCII raw files (which the
    binary reader rejects) changes nothing: clean environment, temp cwd, ``-n``."""
    for where in ("home", "cwd"):
        (tmp_path / where).mkdir()
        (tmp_path / where / ".spiceinit").write_text("set filetype=ascii\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "cwd")
    (check,) = tr.check_decks([RC])
    assert check.error is None and check.grows is False
    assert check.wave.out[-1] == pytest.approx(tr.AMPLITUDE, rel=1e-3)  # H(0) = 1


def test_transient_module_imports_neither_torch_nor_pyspice():
    import subprocess
    import sys

    code = (
        "import sys, cktgen_eda.netlist.transient; "
        "print('torch' in sys.modules, 'PySpice' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
