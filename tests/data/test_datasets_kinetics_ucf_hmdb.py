"""Kinetics, UCF101 and HMDB51 read from their official annotation files."""

import shutil

import pytest
from media import write_indexed_video

from vidray.data import Hmdb51, Kinetics, Ucf101, make_clip_sampler
from vidray.errors import AnnotationError, MediaNotFoundError, UnknownLabelError


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    return write_indexed_video(str(tmp_path_factory.mktemp("src") / "clip.mp4"), 20, fps=10)


def place(clip_file, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(clip_file, path)


KINETICS_CSV = (
    "label,youtube_id,time_start,time_end,split,is_cc\n"
    "air drumming,aaaaaaaaaaa,12,22,train,0\n"
    "abseiling,bbbbbbbbbbb,0,10,train,0\n"
    "abseiling,ccccccccccc,5,15,train,0\n"
    "zumba,ddddddddddd,7,17,train,0\n"
)


@pytest.mark.parametrize("layout", ["flat", "class_folders", "underscored_class_folders"])
def test_kinetics_official_csv_in_each_distributed_layout(tmp_path, clip_file, layout):
    (tmp_path / "train.csv").write_text(KINETICS_CSV)
    for label, vid, start, end in [("air drumming", "aaaaaaaaaaa", 12, 22), ("abseiling", "bbbbbbbbbbb", 0, 10),
                                   ("abseiling", "ccccccccccc", 5, 15), ("zumba", "ddddddddddd", 7, 17)]:
        folder = {"flat": "", "class_folders": label, "underscored_class_folders": label.replace(" ", "_")}[layout]
        place(clip_file, tmp_path / "videos" / folder / f"{vid}_{start:06d}_{end:06d}.mp4")
    dataset = Kinetics(str(tmp_path / "train.csv"), make_clip_sampler("random", 1.0), video_path_prefix=str(tmp_path / "videos"))
    assert dataset.classes == ["abseiling", "air drumming", "zumba"]
    labels = {s["video_name"]: s["label"] for s in dataset}
    assert labels == {"aaaaaaaaaaa_000012_000022.mp4": 1, "bbbbbbbbbbb_000000_000010.mp4": 0,
                      "ccccccccccc_000005_000015.mp4": 0, "ddddddddddd_000007_000017.mp4": 2}


def test_kinetics_missing_clips_are_left_out_and_reported(tmp_path, clip_file):
    (tmp_path / "val.csv").write_text(KINETICS_CSV)
    place(clip_file, tmp_path / "abseiling" / "bbbbbbbbbbb_000000_000010.mp4")
    dataset = Kinetics(str(tmp_path / "val.csv"), make_clip_sampler("random", 1.0))  # videos beside the CSV
    assert dataset.num_videos == 1 and len(dataset.missing_videos) == 3
    assert dataset[0]["label"] == 0  # the label index still counts all classes of the CSV


def test_kinetics_shared_class_list_keeps_labels_consistent_across_splits(tmp_path, clip_file):
    (tmp_path / "val.csv").write_text("label,youtube_id,time_start,time_end,split\nzumba,ddddddddddd,7,17,val\n")
    place(clip_file, tmp_path / "ddddddddddd_000007_000017.mp4")
    dataset = Kinetics(str(tmp_path / "val.csv"), make_clip_sampler("random", 1.0), classes=["abseiling", "zumba"])
    assert dataset[0]["label"] == 1
    with pytest.raises(UnknownLabelError, match=r"val.csv:2: unknown label 'zumba'"):
        Kinetics(str(tmp_path / "val.csv"), make_clip_sampler("random", 1.0), classes=["abseiling"])


def test_kinetics_malformed_row_names_file_and_line(tmp_path):
    (tmp_path / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,x,zero,10,train\n")
    with pytest.raises(AnnotationError, match=r"train.csv:2: field 'time_start' must be float, got 'zero'"):
        Kinetics(str(tmp_path / "train.csv"), make_clip_sampler("random", 1.0))
    (tmp_path / "short.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,x,0\n")
    with pytest.raises(AnnotationError, match=r"short.csv:2: expected 5 fields"):
        Kinetics(str(tmp_path / "short.csv"), make_clip_sampler("random", 1.0))


def test_kinetics_pytorchvideo_list_file_and_class_folders(tmp_path, clip_file):
    place(clip_file, tmp_path / "root" / "archery" / "a.mp4")
    place(clip_file, tmp_path / "root" / "bowling" / "b.mp4")
    by_folder = Kinetics(str(tmp_path / "root"), make_clip_sampler("random", 1.0))
    assert by_folder.classes == ["archery", "bowling"]
    assert sorted((s["video_name"], s["label"]) for s in by_folder) == [("a.mp4", 0), ("b.mp4", 1)]
    (tmp_path / "list.txt").write_text("archery/a.mp4 4\nbowling/b.mp4 9\n")
    by_list = Kinetics(str(tmp_path / "list.txt"), make_clip_sampler("random", 1.0), video_path_prefix=str(tmp_path / "root"))
    assert sorted((s["video_name"], s["label"]) for s in by_list) == [("a.mp4", 4), ("b.mp4", 9)]
    (tmp_path / "tabs.txt").write_text("archery/a.mp4\t4\nbowling/b.mp4   9\nbowling/b.mp4\n")
    by_tabs = Kinetics(str(tmp_path / "tabs.txt"), make_clip_sampler("random", 1.0), video_path_prefix=str(tmp_path / "root"))
    assert sorted(s["label"] for s in by_tabs) == [-1, 4, 9]  # no label: -1, as in PyTorchVideo
    (tmp_path / "bad.txt").write_text("archery/a.mp4 four\n")
    with pytest.raises(AnnotationError, match=r"bad.txt:1: label must be an integer, got 'four'"):
        Kinetics(str(tmp_path / "bad.txt"), make_clip_sampler("random", 1.0))


def test_kinetics_missing_data_path(tmp_path):
    with pytest.raises(MediaNotFoundError, match="nothing.csv"):
        Kinetics(str(tmp_path / "nothing.csv"), make_clip_sampler("random", 1.0))


@pytest.fixture
def ucf(tmp_path, clip_file):
    ann = tmp_path / "ucfTrainTestlist"
    ann.mkdir()
    (ann / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n3 Bowling\n")
    (ann / "trainlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nBowling/v_Bowling_g08_c01.avi 3\n")
    (ann / "testlist01.txt").write_text("Archery/v_Archery_g01_c01.avi\nBowling/v_Bowling_g01_c02.avi\n")
    for name in ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "Bowling/v_Bowling_g08_c01.avi",
                 "Archery/v_Archery_g01_c01.avi", "Bowling/v_Bowling_g01_c02.avi"]:
        place(clip_file, tmp_path / "UCF-101" / name)
    return ann, tmp_path / "UCF-101"


def test_ucf101_official_splits(ucf):
    ann, videos = ucf
    train = Ucf101(str(ann), make_clip_sampler("random", 1.0), video_path_prefix=str(videos), split_id=1, split_type="train")
    test = Ucf101(str(ann / "testlist01.txt"), make_clip_sampler("random", 1.0), video_path_prefix=str(videos))
    assert train.classes == ["ApplyEyeMakeup", "Archery", "Bowling"]
    assert sorted((s["video_name"], s["label"]) for s in train) == [("v_ApplyEyeMakeup_g08_c01.avi", 0), ("v_Bowling_g08_c01.avi", 2)]
    assert sorted((s["video_name"], s["label"]) for s in test) == [("v_Archery_g01_c01.avi", 1), ("v_Bowling_g01_c02.avi", 2)]


def test_ucf101_label_contradicting_its_folder_is_an_error(ucf):
    ann, videos = ucf
    (ann / "trainlist02.txt").write_text("Bowling/v_Bowling_g08_c01.avi 1\n")
    with pytest.raises(AnnotationError, match=r"trainlist02.txt:1: label 1 \(ApplyEyeMakeup\) contradicts the class folder 'Bowling'"):
        Ucf101(str(ann), make_clip_sampler("random", 1.0), video_path_prefix=str(videos), split_id=2)


def test_ucf101_unknown_class_and_bad_split(ucf):
    ann, videos = ucf
    (ann / "testlist03.txt").write_text("Surfing/v_Surfing_g01_c01.avi\n")
    with pytest.raises(UnknownLabelError, match=r"testlist03.txt:1: unknown label 'Surfing'"):
        Ucf101(str(ann), make_clip_sampler("random", 1.0), video_path_prefix=str(videos), split_id=3, split_type="test")
    with pytest.raises(ValueError, match="split_id 1-3"):
        Ucf101(str(ann), make_clip_sampler("random", 1.0), split_id=4)


def test_hmdb51_official_split_files(tmp_path, clip_file):
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    (splits / "brush_hair_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    (splits / "cartwheel_test_split1.txt").write_text("d.avi 2 \ne.avi 1 \n")
    (splits / "cartwheel_test_split2.txt").write_text("d.avi 1 \ne.avi 2 \n")
    for cls, name in [("brush_hair", "a"), ("brush_hair", "b"), ("brush_hair", "c"), ("cartwheel", "d"), ("cartwheel", "e")]:
        place(clip_file, tmp_path / "hmdb51" / cls / f"{name}.avi")
    kwargs = dict(clip_sampler=make_clip_sampler("random", 1.0), video_path_prefix=str(tmp_path / "hmdb51"))
    train = Hmdb51(str(splits), split_id=1, split_type="train", **kwargs)
    test = Hmdb51(str(splits), split_id=1, split_type="test", **kwargs)
    assert train.classes == ["brush_hair", "cartwheel"]
    assert sorted((s["video_name"], s["label"]) for s in train) == [("a.avi", 0), ("e.avi", 1)]
    assert sorted((s["video_name"], s["label"]) for s in test) == [("b.avi", 0), ("d.avi", 1)]
    assert [(s["video_name"], s["label"]) for s in Hmdb51(str(splits), split_id=2, **kwargs)] == [("d.avi", 1)]


def test_hmdb51_malformed_line(tmp_path):
    (tmp_path / "wave_test_split1.txt").write_text("a.avi 1\nb.avi 7\n")
    with pytest.raises(AnnotationError, match=r"wave_test_split1.txt:2: expected '<video> <0\|1\|2>'"):
        Hmdb51(str(tmp_path), make_clip_sampler("random", 1.0))
