"""Videos of a policy controlling a body, rendered offscreen.

MuJoCo renders through an OpenGL backend without a screen: EGL by default here (Debian packages
libegl1 and libgl1-mesa-dri), or OSMesa with ``MUJOCO_GL=osmesa`` (libosmesa6). Frames are encoded
to MP4 by the ffmpeg that the imageio-ffmpeg wheel ships, into a temporary file renamed into place.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from metamorph.env.tasks import TaskConfig
from metamorph.errors import MetamorphError


@contextlib.contextmanager
def _no_python_fork():
    """Start ffmpeg without a Python-level fork of this multithreaded (JAX, MuJoCo) process.

    imageio-ffmpeg passes ``preexec_fn=os.setpgrp`` (so that Ctrl-C reaches Python first), which
    makes `subprocess` fork the whole interpreter, at-fork handlers included: JAX rightly warns that
    this can deadlock. Without it the child is spawned directly; Ctrl-C then stops ffmpeg too, and
    the unfinished video is removed as on any interruption."""
    name = "IMAGEIO_FFMPEG_NO_PREVENT_SIGINT"
    before = os.environ.get(name)
    os.environ[name] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def render_video(
    loaded,
    body: Path,
    out: Path,
    task: str | TaskConfig = "flat",
    seconds: float = 10.0,
    fps: int = 25,
    width: int = 640,
    height: int = 480,
    seed: int = 0,
) -> dict:
    """Render the policy (its mean action; ``loaded=None``: zero torque) on one body to an MP4.

    MuJoCo chooses its GL backend when first imported: from Python, set ``MUJOCO_GL=egl`` (or
    osmesa) before importing mujoco or metamorph; the command line does it for you."""
    import imageio.v2 as imageio
    import mujoco

    from metamorph.env import VecEnv, task_config
    from metamorph.morphology import load_morphology

    morphology = load_morphology(body)
    config = task_config(task) if isinstance(task, str) else task
    vocabulary = loaded.vocabulary if loaded is not None else None
    frame = loaded.policy.config.frame if loaded is not None else "torso"
    link_geometry = loaded.policy.config.link_geometry if loaded is not None else "largest"
    env = VecEnv([morphology], config, 1, nthread=1, autoreset=False, vocabulary=vocabulary, sampling="uniform",
                 scenery=True, frame=frame, link_geometry=link_geometry)  # fmt: skip
    obs = env.reset(seed=seed)
    model, data = env.models[0], env.datas[0]
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    if model.nlight == 0:  # generated bodies bring no light: a brighter headlight instead
        model.vis.headlight.ambient[:] = 0.35
        model.vis.headlight.diffuse[:] = 0.75
    try:
        renderer = mujoco.Renderer(model, height, width)
    except Exception as exc:  # no OpenGL backend on this machine
        raise MetamorphError(
            f"cannot render offscreen ({exc}); install EGL (apt-get install libegl1 libgl1-mesa-dri) "
            "or OSMesa (apt-get install libosmesa6, then MUJOCO_GL=osmesa)"
        ) from None
    act = loaded.mean_action_fn() if loaded is not None else None
    root = env.bodies[0].tokens.root_body
    # frame the robot by its own size (the model's extent includes the floor)
    robot = [g for g in range(model.ngeom) if model.geom_bodyid[g] != 0]
    size = float(np.max(np.linalg.norm(data.geom_xpos[robot] - data.xpos[root], axis=1) + model.geom_rbound[robot]))
    camera = mujoco.MjvCamera()
    camera.distance = max(1.0, 3.5 * size)
    camera.azimuth, camera.elevation = 120.0, -18.0
    every = max(1, round(1.0 / (fps * env.control_dt)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix}")
    frames, total, steps, ended = 0, 0.0, 0, False
    try:
        encoder = {"fps": fps, "codec": "libx264", "quality": 7, "macro_block_size": 8}
        with _no_python_fork(), imageio.get_writer(tmp, **encoder) as writer:
            for step in range(round(seconds / env.control_dt)):
                if step % every == 0:
                    camera.lookat[:] = data.xpos[root]
                    renderer.update_scene(data, camera)
                    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False  # acne on the 200 m floor
                    writer.append_data(renderer.render())
                    frames += 1
                if ended:
                    continue  # keep filming the body where it stopped
                actions = act(obs) if act is not None else np.zeros((1, env.max_tokens))
                obs, reward, terminated, truncated, _ = env.step(actions)
                total += float(reward[0])
                steps += 1
                ended = bool(terminated[0] or truncated[0])
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        renderer.close()
        env.close()
    return {"frames": frames, "seconds": seconds, "return": total, "steps": steps, "episode_ended": ended}
